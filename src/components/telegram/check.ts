// Doctor's checks of the bot (tier 4): the token works, no webhook blocks polling, the daemon polls
// without 401/409, the owner wrote /start; and someone may talk to the bot at all.
import type { DoctorCheck } from "../../core/check.ts";
import { fail, ok, warn } from "../../core/finding.ts";
import type { Manifest } from "../../core/manifest.ts";
import { readSecretsFile } from "../../runtime/consumer/secrets.ts";
import { TELEGRAM_TOKEN_KEY } from "../../runtime/daemon/daemon-file.ts";
// the modules themselves, not the folder's index: that one brings grammY, which no check needs
import { chatKnown, checkBotToken, deleteWebhook, webhookUrl } from "../../runtime/daemon/telegram/api.ts";
import { readTelegramHealth } from "../../runtime/daemon/telegram/health.ts";
import { telegramKeys } from "../../runtime/daemon/telegram/keys.ts";
import { secretsFilePath } from "../redis/secrets.ts";
import { rerunCommand } from "../rerun.ts";

/** a poll older than this while the daemon runs means polling stopped */
const POLL_STALE_MS = 2 * 60_000;

function installedToken(manifest: Manifest): string | undefined {
  return readSecretsFile(secretsFilePath(manifest.settings.stateDir))[TELEGRAM_TOKEN_KEY] || undefined;
}

export const telegramCheck: DoctorCheck = {
  id: "telegram",
  async run({ manifest, redis }) {
    const telegram = manifest.settings.telegram!;
    const token = installedToken(manifest);
    const newToken = `get the token from @BotFather, then: TELEGRAM_BOT_TOKEN=<token> ${rerunCommand(manifest)}`;
    if (!token) return fail("telegram", `no bot token in ${secretsFilePath(manifest.settings.stateDir)}`, newToken);
    const me = await checkBotToken(token, telegram.apiRoot);
    if (!me.ok) {
      return me.status === 401
        ? fail("telegram", "Telegram refuses the bot token (401): it was revoked or replaced", newToken)
        : fail("telegram", `cannot reach the Bot API at ${telegram.apiRoot}: ${me.message}`, "check the network; the daemon retries on its own");
    }
    const hook = await webhookUrl(token, telegram.apiRoot);
    if (hook.ok && hook.result) {
      return fail(
        "telegram",
        `a webhook is set for @${me.username} (${hook.result}): the daemon's long polling gets 409`,
        "gateway-setup doctor --fix (deletes the webhook)",
      );
    }
    const health = redis ? await readTelegramHealth(redis, manifest.settings.prefix) : undefined;
    const lastError = health?.lastError;
    if (lastError && (lastError.code === 401 || lastError.code === 409) && lastError.at > (health?.lastPollOkAt ?? 0)) {
      const why = lastError.code === 409 ? "another program polls this bot (or a webhook was set)" : "Telegram refused the token";
      return fail(
        "telegram",
        `the daemon's polling stopped with ${lastError.code}: ${why} (${lastError.description})`,
        lastError.code === 409 ? "stop the other poller of this bot; the daemon retries on its own" : newToken,
      );
    }
    const owner = telegram.allow[0];
    if (owner !== undefined) {
      const known = await chatKnown(token, telegram.apiRoot, owner);
      if (known.ok && !known.result) {
        return warn(
          "telegram",
          `@${me.username} cannot write to you (user ${owner}) until you send it /start once`,
          `open Telegram, find @${me.username}, send /start`,
        );
      }
    }
    if (health?.lastPollOkAt && Date.now() - health.lastPollOkAt > POLL_STALE_MS) {
      return warn(
        "telegram",
        `@${me.username} answers, but the daemon's last successful poll was ${Math.round((Date.now() - health.lastPollOkAt) / 1000)} s ago`,
        "gateway-setup doctor --only daemon",
      );
    }
    const polled = health?.lastPollOkAt ? `; last poll ${Math.round((Date.now() - health.lastPollOkAt) / 1000)} s ago` : "; the daemon has not polled yet";
    return ok("telegram", `@${me.username} answers${polled}`);
  },
  async repair({ manifest }) {
    const token = installedToken(manifest);
    if (!token) return "not repaired: no bot token to use";
    const deleted = await deleteWebhook(token, manifest.settings.telegram!.apiRoot);
    return deleted.ok ? "deleted the bot's webhook (the daemon polls again)" : `not repaired: ${deleted.message}`;
  },
};

export const allowlistCheck: DoctorCheck = {
  id: "allowlist",
  async run({ manifest, redis }) {
    const { allow, pairing } = manifest.settings.telegram!;
    const paired = redis ? await redis.scard(telegramKeys(manifest.settings.prefix).paired) : 0;
    if (!allow.length && !pairing && !paired) {
      return fail(
        "allowlist",
        "nobody may talk to the bot: no user ids, nobody paired, pairing off",
        `${rerunCommand(manifest)} --telegram-allow <your user id>`,
      );
    }
    const who = [allow.length ? `${allow.length} allowed (owner ${allow[0]})` : "", paired ? `${paired} paired` : "", pairing ? "pairing on" : ""].filter(
      Boolean,
    );
    return ok("allowlist", who.join(", "));
  },
};
