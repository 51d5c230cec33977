/** An entity in a path, a neighbour list or an algorithm's answer. */
export interface EntityRef {
  id: string;
  name: string;
  type: string;
}
