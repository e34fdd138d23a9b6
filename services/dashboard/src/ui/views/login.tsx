import type { Identity } from "@flotilla/api";
import { useSignal } from "@preact/signals";
import { hub } from "../api.js";

/** Asks for a token once; the hub keeps it in an HttpOnly cookie, never this page. */
export function Login(props: { message: string | null; onLogin: (identity: Identity) => void }) {
  const error = useSignal<string | null>(null);
  const busy = useSignal(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const token = String(new FormData(form).get("token") ?? "").trim();
    if (!token) {
      error.value = "Paste an API token: `flotilla token create --role viewer` makes one.";
      return;
    }
    busy.value = true;
    try {
      const identity = await hub.login(token);
      form.reset();
      props.onLogin(identity);
    } catch (err) {
      error.value = err instanceof Error ? err.message : String(err);
    } finally {
      busy.value = false;
    }
  };
  const shown = error.value ?? props.message;
  return (
    <main id="main" class="login">
      <h1>Flotilla</h1>
      <form onSubmit={submit} aria-describedby={shown ? "login-error" : undefined}>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" required />
        <button type="submit" disabled={busy.value}>
          Log in
        </button>
        {shown && (
          <p id="login-error" class="error" role="alert">
            {shown}
          </p>
        )}
      </form>
      <p class="hint">
        The token is sent once and kept by the hub in an HttpOnly session cookie. A viewer token is enough to look;
        steering a rollout needs a member of the app's team or an admin.
      </p>
    </main>
  );
}
