/** Roles of PROTOCOL section 1 (table `user_roles`). */
export const roles = ['user', 'service', 'admin'] as const;
export type Role = (typeof roles)[number];

/**
 * What an access token was issued for: a sign-in (password, registration, refresh) or a
 * service account's API key, whose tokens act as `service` only, whatever else the account
 * holds (v5).
 */
export type TokenKind = 'login' | 'api_key';
