/** Roles of PROTOCOL section 1 (table `user_roles`). */
export const roles = ['user', 'service', 'admin'] as const;
export type Role = (typeof roles)[number];
