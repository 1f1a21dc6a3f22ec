/** Where the task's private workspace copy is mounted inside every box. */
export const WORKSPACE_PATH = '/workspace';
/** The sandbox user's HOME inside every box: a tmpfs the user owns, whatever the image has there. */
export const SANDBOX_HOME = '/home/airlock';
