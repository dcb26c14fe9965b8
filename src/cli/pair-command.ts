// `gateway-setup pair <code>`: placeholder until the pair command lands (tier 4).
export async function runPairCommand(_code: string, _flags: { json?: boolean }): Promise<number> {
  console.error("gateway-setup pair: not built yet");
  return 1;
}
