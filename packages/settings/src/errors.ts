/**
 * Errors of the settings loader. A program that has its own error classes translates this one
 * at its edge (its `loadConfig`), keeping the message: one line naming what to fix.
 */

/** A setting that is missing, unreadable or invalid. Terminal: fix the setting and start again. */
export class SettingsError extends Error {
  override name = "SettingsError";
  constructor(
    /** The environment variable or flag at fault (`flags` for a command line that does not parse). */
    readonly setting: string,
    /** What is wrong with it, without the setting's name. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${setting}: ${reason}`, options);
  }
}
