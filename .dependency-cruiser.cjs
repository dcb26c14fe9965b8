// The import rules that keep the layers of docs/architecture.md apart; `npm test` runs them
// (npm run lint:imports) and names the offending import.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      comment: "a cycle ties modules together so that neither can change alone",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "core-is-a-leaf",
      comment: "src/core holds data types and pure rules only: it imports nothing else of ours",
      severity: "error",
      from: { path: "^src/core/" },
      to: { path: "^src/", pathNot: "^src/core/" },
    },
    {
      name: "runtime-is-self-contained",
      comment: "src/runtime is copied into the user's pi as it is: it may import only itself (and node, ioredis, pi's types)",
      severity: "error",
      from: { path: "^src/runtime/" },
      to: { path: "^src/", pathNot: "^src/runtime/" },
    },
    {
      name: "components-stay-below-the-commands",
      comment: "a component is used by setup, doctor and uninstall alike; it never reaches up into them",
      severity: "error",
      from: { path: "^src/components/" },
      to: { path: "^src/(cli|setup|wizard|doctor)/" },
    },
    {
      name: "platform-only-uses-core",
      comment: "the OS adapters know nothing of plans, components or commands",
      severity: "error",
      from: { path: "^src/platform/" },
      to: { path: "^src/", pathNot: "^src/(platform|core)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
