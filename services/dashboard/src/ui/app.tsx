import { useSignal } from "@preact/signals";
import { useEffect, useMemo } from "preact/hooks";
import { HubRequestError, hub } from "./api.js";
import { href, route } from "./route.js";
import { FleetStore } from "./store.js";
import { AppView } from "./views/app.js";
import { ClusterView } from "./views/cluster.js";
import { FleetView } from "./views/fleet.js";
import { Login } from "./views/login.js";
import { RolloutView } from "./views/rollout.js";
import { RolloutList } from "./views/rollouts.js";

/**
 * Where the event stream stands, with the events applied and the resumptions as data attributes:
 * its own component, so a batch of events re-renders this and not the page.
 */
function Live(props: { store: FleetStore }) {
  const { store } = props;
  const connection = store.connection.value;
  return (
    <span
      class="live"
      data-connection={connection}
      data-events={store.applied.value}
      data-last-event={store.appliedId.value}
      data-reconnects={store.reconnects.value}
      role="status"
      title={
        connection === "reconnecting"
          ? "The event stream dropped: the page opens it again and resumes where it stopped"
          : undefined
      }
    >
      {connection === "reconnecting" ? "reconnecting…" : connection}
    </span>
  );
}

/** The page: a login form until a session exists, then the views over one live store. */
export function App() {
  const store = useMemo(() => new FleetStore(), []);
  const checked = useSignal(false);

  useEffect(() => {
    // A session cookie from an earlier visit may still hold a valid token.
    hub
      .whoami()
      .then((identity) => {
        store.identity.value = identity;
      })
      .catch((err: unknown) => {
        if (!(err instanceof HubRequestError && err.status === 401)) store.error.value = String(err);
      })
      .finally(() => {
        checked.value = true;
      });
    return () => store.close();
  }, [store]);

  const identity = store.identity.value;
  useEffect(() => {
    if (!identity) return;
    void store.load();
    store.connect();
    // Back on the network: open the stream now rather than at the end of the retry pause.
    const online = () => store.reconnectNow();
    window.addEventListener("online", online);
    return () => {
      window.removeEventListener("online", online);
      store.close();
    };
  }, [identity, store]);

  if (!checked.value) return <main id="main" aria-busy="true" />;
  if (!identity) {
    return (
      <Login
        message={store.error.value}
        onLogin={(id) => {
          store.error.value = null;
          store.identity.value = id;
        }}
      />
    );
  }

  const r = route.value;
  const logout = async () => {
    await hub.logout().catch(() => undefined);
    store.close();
    store.identity.value = null;
  };
  return (
    <>
      <header class="top">
        <a class="brand" href={href.fleet()}>
          Flotilla
        </a>
        <nav aria-label="Views">
          <a href={href.fleet()} aria-current={r.view === "fleet" ? "page" : undefined}>
            Fleet
          </a>
          <a href={href.rollouts()} aria-current={r.view === "rollouts" ? "page" : undefined}>
            Rollouts
          </a>
        </nav>
        <Live store={store} />
        <span class="who" data-role={identity.role}>
          {identity.role}
          {identity.team ? ` of ${identity.team}` : ""}
        </span>
        <button type="button" onClick={logout}>
          Log out
        </button>
      </header>
      <main id="main">
        {store.error.value && (
          <p class="error" role="alert">
            {store.error.value}
          </p>
        )}
        {r.view === "fleet" && <FleetView store={store} />}
        {r.view === "rollouts" && <RolloutList store={store} />}
        {r.view === "rollout" && <RolloutView store={store} id={r.id} />}
        {r.view === "cluster" && <ClusterView store={store} name={r.name} />}
        {r.view === "app" && <AppView store={store} name={r.name} />}
      </main>
    </>
  );
}
