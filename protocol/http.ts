import { z } from 'zod';

// eslint-disable-next-line no-control-regex
const printable = (field: string, max: number) =>
  z
    .string()
    .trim()
    .min(1, `${field} is required`)
    .max(max, `${field} is at most ${max} characters`)
    .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), `${field} must not contain control characters`);

/** `POST /v1/auth/register` body. */
export const registerBody = z
  .object({
    email: z.string().trim().toLowerCase().max(255).email('email is not a valid address'),
    username: printable('username', 100),
    // Bounded so that hashing stays cheap for the server whatever a client sends.
    password: z.string().min(8, 'password is at least 8 characters').max(256, 'password is at most 256 characters'),
  })
  .strict();

/** `POST /v1/auth/login` body. */
export const loginBody = z
  .object({
    email: z.string().trim().toLowerCase().max(255).email('email is not a valid address'),
    password: z.string().min(1).max(256),
  })
  .strict();

/** `POST /v1/auth/refresh` and `POST /v1/auth/logout` body. */
export const refreshBody = z.object({ refreshToken: z.string().min(1).max(200) }).strict();

export type RegisterBody = z.output<typeof registerBody>;
export type LoginBody = z.output<typeof loginBody>;

/** A user as the HTTP API returns it (never the password hash). */
export interface PublicUser {
  id: string;
  email: string;
  username: string;
  roles: string[];
  createdAt: string;
}

/** Body of a successful register or login. */
export interface AuthResponse {
  user: PublicUser;
  accessToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  /** Single-use token for `POST /v1/auth/refresh` (an addition to PROTOCOL v1). */
  refreshToken: string;
}
