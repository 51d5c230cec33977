import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Returns a random secret kept in `<dataDir>/secrets/<name>` (mode 0600), creating it on
 * first use. Only the embedded default uses this, so that a fresh single node needs no
 * configuration and no credential is ever committed; clusters pass secrets explicitly.
 */
export async function loadOrCreateSecret(dataDir: string, name: string): Promise<string> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`invalid secret name ${name}`);
  const dir = path.join(dataDir, 'secrets');
  const file = path.join(dir, name);
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing.length >= 32) return existing;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // The data directory itself stays traversable: the embedded PostgreSQL runs as another
  // OS user when the node is root. Only the secrets folder is private.
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString('base64url');
  // 'wx' fails if another process created it first; then use theirs.
  try {
    await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return (await readFile(file, 'utf8')).trim();
  }
}
