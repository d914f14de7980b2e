import { FieldCipher } from '@botctl/core';
import { writeNewSecretFile } from '../archive/encryption.js';

/** Writes `DATA_ENCRYPTION_KEY=<new key>` to a new 0600 file; the key is never printed. */
export async function writeDataKeyFile(file: string): Promise<void> {
  await writeNewSecretFile(file, `DATA_ENCRYPTION_KEY=${FieldCipher.generateKey()}\n`, 'it', 'the key in it may be the only copy');
}
