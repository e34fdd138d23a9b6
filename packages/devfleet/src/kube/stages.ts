/**
 * kwok Stages of our own, beside the upstream ones of scripts/fixtures.sh, for states a
 * kubelet reaches that upstream's fast stages never play: a container crash-looping.
 */

/**
 * Label that makes kwok play a crash loop for a Pod: Running, not ready, each container
 * waiting in CrashLoopBackOff after {@link CRASH_LOOP_RESTARTS} restarts that exited 1. Put it
 * on a Pod template to roll out a revision that crashes.
 */
export const CRASH_LOOP_LABEL = "stage.flotilla.dev/crash-loop";
/** Restarts a crash-looping container reports. */
export const CRASH_LOOP_RESTARTS = 5;

/**
 * The Stage documents. Its weight wins over upstream's pod-ready (which has none) for a Pending
 * Pod with the label; once Running, pod-ready no longer matches it.
 */
export const FLOTILLA_STAGES = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: flotilla-pod-crash-loop
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.labels["${CRASH_LOOP_LABEL}"]'
      operator: 'In'
      values:
      - 'true'
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
  weight: 10000
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        reason: ContainersNotReady
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        started: false
        restartCount: ${CRASH_LOOP_RESTARTS}
        lastState:
          terminated:
            exitCode: 1
            reason: Error
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
        state:
          waiting:
            reason: CrashLoopBackOff
            message: back-off 2m40s restarting failed container
      {{ end }}
      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
`;
