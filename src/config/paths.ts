/**
 * Dotted paths into the Config type, so that a variable's row can say where its value lands
 * (`at: 'http.port'`) and the compiler checks it: a path that does not exist, or whose type
 * the variable's value cannot be, is a compile error.
 */

/** Values a path stops at: nothing inside them is a destination of its own. */
type Leaf =
  | string
  | number
  | boolean
  | bigint
  | symbol
  | null
  | undefined
  | readonly unknown[]
  | ReadonlySet<unknown>
  | ReadonlyMap<unknown, unknown>;

/**
 * The paths into `T` where a value of type `V` fits. A part chosen by a mode (`{ mode }`:
 * postgres, redis, vector, graph, objects) is never entered: it is built whole by its
 * section (src/config/sections.ts).
 */
export type PathTo<T, V, Prefix extends string = ''> = {
  [K in keyof T & string]-?:
    | ([V] extends [T[K]] ? `${Prefix}${K}` : never)
    | (T[K] extends Leaf | { readonly mode: string } ? never : PathTo<T[K], V, `${Prefix}${K}.`>);
}[keyof T & string];

/** The type at path `P` of `T`. */
export type ValueAt<T, P extends string> = P extends `${infer Head}.${infer Rest}`
  ? Head extends keyof T
    ? ValueAt<T[Head], Rest>
    : never
  : P extends keyof T
    ? T[P]
    : never;

/**
 * The coarsest paths of `T` that no path of `Placed` covers: a part none of whose leaves is
 * placed is one path (`postgres`), a part with some placed leaves is entered for the rest
 * (`messages.maxMetadataBytes`).
 */
export type Unplaced<T, Placed extends string, Prefix extends string = ''> = {
  [K in keyof T & string]-?: `${Prefix}${K}` extends Placed
    ? never
    : [Extract<Placed, `${Prefix}${K}.${string}`>] extends [never]
      ? `${Prefix}${K}`
      : Unplaced<T[K], Placed, `${Prefix}${K}.`>;
}[keyof T & string];
