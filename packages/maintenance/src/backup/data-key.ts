import fsp from 'node:fs/promises';
import { BotctlError, ExitCode, FieldCipher } from '@botctl/core';

/** Writes `DATA_ENCRYPTION_KEY=<new key>` to a new 0600 file; the key is never printed. */
export async function writeDataKeyFile(file: string): Promise<void> {
  try {
    await fsp.writeFile(file, `DATA_ENCRYPTION_KEY=${FieldCipher.generateKey()}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BotctlError('EXISTS', ExitCode.REFUSED, `${file} already exists; refusing to overwrite it`, { hint: 'choose another --output' });
    }
    throw error;
  }
}
