import { CliError } from "../errors.js";

/** A local fleet that could not be started, found or stopped; one line, exit code 1. */
export class FleetError extends CliError {
  override name = "FleetError";
}
