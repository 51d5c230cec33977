export * from './errors.js';
export * from './events.js';
export * from './http.js';
export * from './models.js';
export * from './roles.js';
export * from './schemas.js';
