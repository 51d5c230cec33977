/** An entity of the knowledge graph (a `:Entity` node in Neo4j). */
export interface GraphEntity {
  /** Stable id, for example a hash of the normalised name and type. */
  id: string;
  name: string;
  /** Kind of entity, for example `CONCEPT`, `PERSON`. */
  type: string;
  /** Extra attributes (stored as JSON). */
  properties: Record<string, unknown>;
}

/**
 * The knowledge graph: Neo4j, or tables in PostgreSQL on the embedded default. Later issues
 * add documents, relations and algorithms to this port.
 */
export interface GraphStore {
  /** Creates constraints and indexes if missing; called once at start. */
  init(): Promise<void>;
  /** Creates or updates entities by id. */
  upsertEntities(entities: readonly GraphEntity[]): Promise<void>;
  /** The entity with this id, or undefined. */
  getEntity(id: string): Promise<GraphEntity | undefined>;
  /** Removes the entity and its relations; a missing entity is not an error. */
  deleteEntity(id: string): Promise<void>;
  /** One round trip to the backing service. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
