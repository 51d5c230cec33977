/** A backup that cannot be used (damaged, truncated, wrong key, unknown format) or a restore target that is not empty. */
export class BackupRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupRefused';
  }
}
