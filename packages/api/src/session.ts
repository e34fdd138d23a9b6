/**
 * The dashboard's session: how a browser holds its token. `POST /v1/session` with the token as a
 * bearer token answers the identity and sets {@link SESSION_COOKIE} to the token (HttpOnly,
 * SameSite=Strict, Path=/, Secure over HTTPS), so page scripts never see it and no other site's
 * page can send it. The hub reads the cookie only when a request has no Authorization header,
 * and then refuses a write without {@link CSRF_HEADER}: a cross-site form cannot set a header,
 * and a cross-site script cannot send one without a CORS preflight the hub never answers.
 *
 * No zod here: the dashboard imports these at run time and bundles only this module.
 */

/** The cookie that carries a dashboard session's token. */
export const SESSION_COOKIE = "flotilla_session";

/** The header a cookie-authenticated write must carry (any non-empty value). */
export const CSRF_HEADER = "x-flotilla-csrf";

/** Methods that change nothing, which a cookie-authenticated request may use without {@link CSRF_HEADER}. */
export const SAFE_METHODS: readonly string[] = ["GET", "HEAD", "OPTIONS"];
