/** Return codes of the Lua scripts in `scripts/`, named in one place. */
export const StreamAppendCode = {
  Appended: 1,
  Duplicate: 0,
  Gap: -1,
  TooLarge: -2,
  NotOwner: -3,
  Interrupted: -4,
} as const;
