import { createCipheriv, createDecipheriv, type DecipherGCM, randomBytes, scryptSync } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BackupRefused } from './errors.js';

const MAGIC = Buffer.from('VHB1');
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** How a backup's files are encrypted, as the manifest records it (never the key). */
export interface EncryptionInfo {
  cipher: 'aes-256-gcm';
  kdf: 'scrypt';
  /** Base64 salt of the key derivation. */
  salt: string;
}

/** A fresh description for a new backup. */
export function newEncryption(): EncryptionInfo {
  return { cipher: 'aes-256-gcm', kdf: 'scrypt', salt: randomBytes(16).toString('base64') };
}

/** The 256-bit file key from BACKUP_ENCRYPTION_KEY (any passphrase) and the backup's salt. */
export function deriveKey(secret: string, info: EncryptionInfo): Buffer {
  return scryptSync(secret, Buffer.from(info.salt, 'base64'), 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
}

/**
 * Encrypts one file as `VHB1 | iv | AES-256-GCM ciphertext | tag`, streaming. Each file
 * has its own random IV; the tag authenticates the whole file, so a changed or truncated
 * file fails to decrypt.
 */
export function encryptStream(key: Buffer): Transform {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!started) {
        started = true;
        this.push(Buffer.concat([MAGIC, iv]));
      }
      callback(null, cipher.update(chunk));
    },
    flush(callback: TransformCallback) {
      if (!started) this.push(Buffer.concat([MAGIC, iv]));
      this.push(cipher.final());
      callback(null, cipher.getAuthTag());
    },
  });
}

/**
 * Decrypts what `encryptStream` wrote. Plain text is released as it comes, and the stream
 * fails at its end when the tag does not match: callers that must not act on
 * unauthenticated data read the whole file first (`backup verify`, and restore's check).
 */
export function decryptStream(key: Buffer): Transform {
  let header = Buffer.alloc(0);
  let decipher: DecipherGCM | undefined;
  // The last TAG_BYTES seen so far might be the tag: held back until more arrives.
  let tail = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      let data = chunk;
      if (decipher === undefined) {
        header = Buffer.concat([header, data]);
        if (header.length < MAGIC.length + IV_BYTES) return callback();
        if (!header.subarray(0, MAGIC.length).equals(MAGIC))
          return callback(new BackupRefused('not an encrypted backup file (bad header)'));
        decipher = createDecipheriv('aes-256-gcm', key, header.subarray(MAGIC.length, MAGIC.length + IV_BYTES));
        data = header.subarray(MAGIC.length + IV_BYTES);
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
            'the encrypted file does not authenticate (wrong BACKUP_ENCRYPTION_KEY, or the file was changed)',
          ),
        );
      }
    },
  });
}
