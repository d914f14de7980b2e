import { shippedVersion } from '@botctl/core/shipped';

/** botctl's version: the release's, or its package.json's in a checkout. */
export const TOOL_VERSION: string = shippedVersion(new URL('../../package.json', import.meta.url));
