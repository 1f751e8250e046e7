import { archiveJobFiles } from '../../core/archive';
import { archiveFilesFromEnv, artifactLinksFromEnv, itemStoreFromEnv, jobStoreFromEnv } from '../shared/adapters';
import { apiHandler, callerOf, json, pathParam } from '../shared/http';

const deps = { store: jobStoreFromEnv(), items: itemStoreFromEnv(), files: archiveFilesFromEnv(), links: artifactLinksFromEnv() };

/** POST /jobs/{jobId}/archive — every file of a finished job in one ZIP (`all-files.zip`), as a presigned link. */
export const handler = apiHandler(async (event) => json(200, await archiveJobFiles(deps, callerOf(event), pathParam(event, 'jobId'))));
