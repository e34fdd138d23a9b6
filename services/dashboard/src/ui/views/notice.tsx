/** A failure to show in place of a view, in one line. */
export function Failure(props: { message: string }) {
  return (
    <p class="error" role="alert">
      {props.message}
    </p>
  );
}
