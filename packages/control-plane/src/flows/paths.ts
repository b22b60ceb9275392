/** Public paths and URLs of the built-in login portal. */
import { ACCOUNT_PASSWORD_PATH } from "../users/bootstrap.js";

/** Portal page of a login flow (`?flowId=`). */
export const PORTAL_LOGIN_PATH = "/_trellis/portal/users/login";

/** Portal page where an account flow sets a local password (`?flowId=`). */
export const PORTAL_ACCOUNT_PASSWORD_PATH = ACCOUNT_PASSWORD_PATH;

/** Static assets of the portal. */
export const PORTAL_ASSETS_PATH = "/_trellis/portal/assets";

/** `<publicOrigin><path>?flowId=<flowId>`. */
export function portalUrl(publicOrigin: string, path: string, flowId: string): string {
  return `${publicOrigin.replace(/\/+$/, "")}${path}?flowId=${encodeURIComponent(flowId)}`;
}
