// The token scrubber alone, without grammY: the plain Bot API calls (setup, doctor) need it, and
// loading grammY for them would cost every doctor and status run.
export type Scrub = (text: string) => string;

export function tokenScrubber(token: string): Scrub {
  return (text) => (token ? text.split(token).join("<token>") : text);
}
