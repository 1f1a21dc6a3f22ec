/** Where the task's private workspace copy is mounted inside every box. */
export const WORKSPACE_PATH = '/workspace';
/** The sandbox user's HOME inside every box: a tmpfs the user owns, whatever the image has there. */
export const SANDBOX_HOME = '/home/airlock';
/**
 * A layered workspace's own layer, read-only in the box: `upper` holds every path the task (or
 * its start) wrote, which is what lets the change scanner look only there.
 */
export const LAYER_PATH = '/.airlock/layer';
export const LAYER_UPPER_PATH = `${LAYER_PATH}/upper`;
