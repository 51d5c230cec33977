import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  type DecipherGCM,
  hkdfSync,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BackupRefused } from './errors.js';

/** File header of format 1: no associated data (a file could be moved to another name). */
const MAGIC_V1 = Buffer.from('VHB1');
/** File header of format 2: the backup id and the file's name are the associated data. */
const MAGIC_V2 = Buffer.from('VHB2');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
// HKDF labels: the file key and the manifest key come from the same scrypt output and must
// never be the same key.
const FILE_KEY_LABEL = 'voicehelper backup format 2: file encryption (AES-256-GCM)';
const MANIFEST_KEY_LABEL = 'voicehelper backup format 2: manifest authentication (HMAC-SHA256)';

/** How a backup's files are encrypted, as the manifest records it (never the key). */
export interface EncryptionInfo {
  cipher: 'aes-256-gcm';
  kdf: 'scrypt';
  /** Base64 salt of the key derivation. */
  salt: string;
}

/** The keys of one encrypted backup, derived from BACKUP_ENCRYPTION_KEY and the backup's salt. */
export interface BackupKeys {
  /** The backup format the keys are for: 2 binds every file to its name and backup, 1 (legacy) did not. */
  readonly format: 1 | 2;
  /** AES-256-GCM key of the files. */
  readonly file: Buffer;
  /** HMAC-SHA256 key of the manifest; undefined for format 1, whose manifest nothing authenticates. */
  readonly manifest: Buffer | undefined;
}

/** A fresh description for a new backup. */
export function newEncryption(): EncryptionInfo {
  return { cipher: 'aes-256-gcm', kdf: 'scrypt', salt: randomBytes(16).toString('base64') };
}

function scryptKey(secret: string, salt: Buffer): Promise<Buffer> {
  // Asynchronous: a node's scheduler derives keys while it serves (32 MiB and ~0.1 s each).
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, 32, SCRYPT, (error, key) => (error === null ? resolve(key) : reject(error))),
  );
}

/**
 * The keys of a backup from BACKUP_ENCRYPTION_KEY (any passphrase) and its salt: scrypt
 * stretches the passphrase once; format 2 then takes the file key and the manifest key
 * from that with HKDF-SHA256 under two labels, format 1 used the scrypt output as its
 * file key.
 */
export async function deriveKeys(secret: string, info: EncryptionInfo, format: 1 | 2): Promise<BackupKeys> {
  const master = await scryptKey(secret, Buffer.from(info.salt, 'base64'));
  if (format === 1) return { format, file: master, manifest: undefined };
  const expand = (label: string) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), label, 32));
  return { format, file: expand(FILE_KEY_LABEL), manifest: expand(MANIFEST_KEY_LABEL) };
}

/** What a format 2 file's encryption binds it to: the backup it belongs to and its name there. */
export function fileAssociatedData(backupId: string, name: string): Buffer {
  return Buffer.from(JSON.stringify(['voicehelper backup file', backupId, name]), 'utf8');
}

/** The `mac` field of a manifest. */
export interface ManifestMac {
  /** `hmac-sha256`: keyed, so it authenticates; `sha256`: a bare checksum, which anyone can recompute. */
  alg: 'hmac-sha256' | 'sha256';
  /** Hex digest. */
  value: string;
}

/**
 * The `mac` of a manifest's canonical bytes: HMAC-SHA256 under the manifest key of an
 * encrypted backup, or, without a key, a SHA-256 that shows the manifest is whole and
 * nothing more.
 */
export function manifestMac(canonical: Buffer, key: Buffer | undefined): ManifestMac {
  return key === undefined
    ? { alg: 'sha256', value: createHash('sha256').update(canonical).digest('hex') }
    : { alg: 'hmac-sha256', value: createHmac('sha256', key).update(canonical).digest('hex') };
}

/** Whether two macs are the same, compared in constant time. */
export function sameMac(a: ManifestMac, b: ManifestMac): boolean {
  const x = Buffer.from(a.value, 'hex');
  const y = Buffer.from(b.value, 'hex');
  return a.alg === b.alg && x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Encrypts one file as `VHB2 | iv | AES-256-GCM ciphertext | tag`, streaming. Each file
 * has its own random IV; the tag authenticates the whole file and `associatedData` (its
 * backup and name, `fileAssociatedData`), so a changed, truncated, renamed or transplanted
 * file fails to decrypt.
 */
export function encryptStream(key: Buffer, associatedData: Buffer): Transform {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(associatedData);
  const header = Buffer.concat([MAGIC_V2, iv]);
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!started) {
        started = true;
        this.push(header);
      }
      callback(null, cipher.update(chunk));
    },
    flush(callback: TransformCallback) {
      if (!started) this.push(header);
      this.push(cipher.final());
      callback(null, cipher.getAuthTag());
    },
  });
}

/**
 * Decrypts what `encryptStream` wrote (with the same associated data), or, without
 * associated data, a format 1 file. Plain text is released as it comes, and the stream
 * fails at its end when the tag does not match: callers that must not act on
 * unauthenticated data read the whole file first (`backup verify`, and restore's check).
 */
export function decryptStream(key: Buffer, associatedData: Buffer | undefined): Transform {
  const magic = associatedData === undefined ? MAGIC_V1 : MAGIC_V2;
  let header = Buffer.alloc(0);
  let decipher: DecipherGCM | undefined;
  // The last TAG_BYTES seen so far might be the tag: held back until more arrives.
  let tail = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      let data = chunk;
      if (decipher === undefined) {
        header = Buffer.concat([header, data]);
        if (header.length < magic.length + IV_BYTES) return callback();
        if (!header.subarray(0, magic.length).equals(magic))
          return callback(new BackupRefused(`not an encrypted backup file of this format (no ${magic} header)`));
        decipher = createDecipheriv('aes-256-gcm', key, header.subarray(magic.length, magic.length + IV_BYTES));
        if (associatedData !== undefined) decipher.setAAD(associatedData);
        data = header.subarray(magic.length + IV_BYTES);
      }
      const joined = Buffer.concat([tail, data]);
      const cut = Math.max(0, joined.length - TAG_BYTES);
      tail = joined.subarray(cut);
      callback(null, decipher.update(joined.subarray(0, cut)));
    },
    flush(callback: TransformCallback) {
      if (decipher === undefined || tail.length < TAG_BYTES)
        return callback(new BackupRefused('the encrypted file is truncated'));
      try {
        decipher.setAuthTag(tail);
        callback(null, decipher.final());
      } catch {
        callback(
          new BackupRefused(
            associatedData === undefined
              ? 'the encrypted file does not authenticate (wrong BACKUP_ENCRYPTION_KEY, or the file was changed)'
              : 'the encrypted file does not authenticate (wrong BACKUP_ENCRYPTION_KEY, or the file was changed, or moved from another name or backup)',
          ),
        );
      }
    },
  });
}
