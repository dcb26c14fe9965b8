// `gateway-setup daemon`: placeholder until the daemon command lands (tier 4).
export async function runDaemonCommand(_flags: { config?: string }): Promise<number> {
  console.error("gateway-setup daemon: not built yet");
  return 1;
}
