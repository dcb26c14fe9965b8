// The bench's bare model round trip (bench/daemon.ts): a process that only posts the request body it
// is handed to the model URL in argv and reads the answer to its end, and reports how long that took.
const [url] = process.argv.slice(2);
process.on("message", async (body) => {
  try {
    const started = performance.now();
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    await response.text();
    process.send(performance.now() - started);
  } catch (error) {
    process.send(String(error));
  }
});
