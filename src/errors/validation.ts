import type { z } from 'zod';
import { AppError } from './app-error.js';

/** At most this many failing fields are named in a VALIDATION error. */
const MAX_ISSUES = 10;

/** A failing field as VALIDATION's `details.issues` names it: a dotted path and why. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** The first failing fields of a zod error, as clients see them. */
export function validationIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): ValidationIssue[] {
  return issues
    .slice(0, MAX_ISSUES)
    .map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

/** VALIDATION naming the failing fields. */
export function validationError(
  message: string,
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
): AppError {
  return new AppError('VALIDATION', { message, details: { issues: validationIssues(issues) } });
}

/** A value checked against a schema (parsed output); VALIDATION naming the failing fields otherwise. */
export function validated<S extends z.ZodType>(
  schema: S,
  value: unknown,
  message = 'the request body is invalid',
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw validationError(message, parsed.error.issues);
  return parsed.data;
}
