/** Base of the load generator's errors. */
export class LoadgenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LoadgenError";
  }
}

/** The hub did not register a cluster. */
export class RegistrationError extends LoadgenError {
  constructor(
    readonly cluster: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`cannot register simulated cluster ${cluster}: ${reason}`, options);
    this.name = "RegistrationError";
  }
}
