import type pg from 'pg';

/** One entry of `system_configs`. */
export interface ConfigEntry {
  key: string;
  value: unknown;
  description: string | null;
  updatedAt: string;
  updatedBy: string | null;
}

interface ConfigRow {
  config_key: string;
  config_value: unknown;
  description: string | null;
  updated_at: Date;
  updated_by: string | null;
}

function toEntry(row: ConfigRow): ConfigEntry {
  return {
    key: row.config_key,
    value: row.config_value,
    description: row.description,
    updatedAt: row.updated_at.toISOString(),
    updatedBy: row.updated_by,
  };
}

/** Run-time settings that admins change (table `system_configs`). */
export class ConfigRepository {
  constructor(private readonly pool: pg.Pool) {}

  async get(key: string): Promise<ConfigEntry | undefined> {
    const result = await this.pool.query<ConfigRow>(
      'select config_key, config_value, description, updated_at, updated_by from system_configs where config_key = $1',
      [key],
    );
    return result.rows[0] === undefined ? undefined : toEntry(result.rows[0]);
  }

  async list(): Promise<ConfigEntry[]> {
    const result = await this.pool.query<ConfigRow>(
      'select config_key, config_value, description, updated_at, updated_by from system_configs order by config_key',
    );
    return result.rows.map(toEntry);
  }

  /** Creates or replaces a value. */
  async put(
    key: string,
    value: unknown,
    options: { description?: string; updatedBy?: string | null } = {},
  ): Promise<ConfigEntry> {
    const result = await this.pool.query<ConfigRow>(
      `insert into system_configs (config_key, config_value, description, updated_by) values ($1, $2, $3, $4)
       on conflict (config_key) do update
         set config_value = excluded.config_value,
             description = coalesce(excluded.description, system_configs.description),
             updated_by = excluded.updated_by,
             updated_at = now()
       returning config_key, config_value, description, updated_at, updated_by`,
      [key, JSON.stringify(value), options.description ?? null, options.updatedBy ?? null],
    );
    return toEntry(result.rows[0] as ConfigRow);
  }
}
