import { randomUUID } from 'node:crypto';
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { ConfigError } from '../../config/load.js';

const MARKER = '.cluster-marker';

/**
 * A directory object store serves a cluster only when every node sees the same directory
 * (one disk shared by all, or nodes on one machine): a marker file written there must hold
 * the value recorded in PostgreSQL for this bucket. The first node to start writes both;
 * a node whose directory has another marker, or none while PostgreSQL has one, would keep
 * objects the other nodes cannot read, so it refuses to start (ConfigError naming
 * S3_ENDPOINT).
 */
export async function assertSharedObjectDirectory(pool: pg.Pool, root: string, bucket: string): Promise<void> {
  const file = path.join(root, MARKER);
  const value = (await readMarker(file)) ?? (await createMarker(file));
  const name = `object-directory:${bucket}`;
  await pool.query('insert into cluster_markers (name, value) values ($1, $2) on conflict (name) do nothing', [
    name,
    value,
  ]);
  const recorded = await pool.query<{ value: string }>('select value from cluster_markers where name = $1', [name]);
  if (recorded.rows[0]?.value !== value) {
    throw new ConfigError([
      `S3_ENDPOINT: required for this cluster: the object directory ${root} is not the one its other nodes use (set S3_ENDPOINT, S3_ACCESS_KEY and S3_SECRET_KEY on every node, or give every node the same DATA_DIR on a shared disk)`,
    ]);
  }
}

async function readMarker(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Writes a new marker atomically; when another node on this directory was first, takes its value. */
async function createMarker(file: string): Promise<string> {
  const candidate = randomUUID();
  const tmp = `${file}.${candidate}`;
  await writeFile(tmp, candidate);
  try {
    await link(tmp, file);
    return candidate;
  } catch (error) {
    if ((error as { code?: string }).code !== 'EEXIST') throw error;
    return (await readMarker(file)) ?? candidate;
  } finally {
    await rm(tmp, { force: true });
  }
}
