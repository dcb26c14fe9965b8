// Setup's Telegram step (tier 4): the bot token (TELEGRAM_BOT_TOKEN, an earlier install's secrets
// file, or a hidden prompt; never a flag) checked with getMe before anything is written.
import { secretsFilePath } from "../components/redis/secrets.ts";
import type { Answers } from "../core/answers.ts";
import { GatewayError, UsageError } from "../core/errors.ts";
import { gatewayStateDir } from "../platform/paths.ts";
import { readSecretsFile } from "../runtime/consumer/secrets.ts";
import { TELEGRAM_TOKEN_KEY } from "../runtime/daemon/daemon-file.ts";
// api.ts, not the folder's index: that one brings grammY, which setup does not need
import { checkBotToken, type TokenCheck } from "../runtime/daemon/telegram/api.ts";
import type { SetupContext } from "./context.ts";

const NEW_TOKEN = "create a bot (or get its token again) with @BotFather in Telegram, then: TELEGRAM_BOT_TOKEN=<token> gateway-setup --tier 4";

export async function settleTelegram(ctx: Pick<SetupContext, "env" | "output" | "prompter" | "signal">, answers: Answers): Promise<Answers> {
  if (answers.tier < 4) return answers;
  const apiRoot = answers.telegramApiRoot ?? ctx.env.TELEGRAM_API_ROOT;
  let token = answers.telegramToken ?? ctx.env.TELEGRAM_BOT_TOKEN?.trim() ?? storedToken(ctx.env);
  const prompter = ctx.prompter;
  const ask = (message: string) =>
    prompter!.password({
      id: "telegramToken",
      message,
      validate: (value) => (/^\d+:[\w-]{20,}$/.test(value.trim()) ? undefined : "a token looks like 123456:ABC-def..."),
    });
  if (!token) {
    if (!prompter) throw new UsageError("tier 4 needs the Telegram bot token: set TELEGRAM_BOT_TOKEN (it is never a flag)", NEW_TOKEN);
    prompter.note("Create a bot with @BotFather in Telegram (/newbot) and paste its token here. It is stored only in a 0600 file.", "Telegram bot");
    token = (await ask("Bot token")).trim();
  }
  let check = await checkToken(ctx, token, apiRoot);
  for (let attempt = 0; prompter && !check.ok && attempt < 3; attempt++) {
    ctx.output.warn(check.status === 401 ? `Telegram refused that token (401 ${check.message})` : `could not check that token: ${check.message}`);
    token = (await ask("Bot token (Telegram refused the last one)")).trim();
    check = await checkToken(ctx, token, apiRoot);
  }
  if (!check.ok) {
    throw check.status === 401
      ? new GatewayError(`Telegram refused the bot token: ${check.message} (401)`, NEW_TOKEN)
      : new GatewayError(
          `could not check the bot token with Telegram: ${check.message}`,
          "check the network (or --telegram-api-root), then run gateway-setup again",
        );
  }
  ctx.output.success(`Telegram bot @${check.username} answered`);
  return { ...answers, telegramToken: token, telegramBot: { id: check.id, username: check.username }, ...(apiRoot ? { telegramApiRoot: apiRoot } : {}) };
}

async function checkToken(ctx: Pick<SetupContext, "output">, token: string, apiRoot: string | undefined): Promise<TokenCheck> {
  const spinner = ctx.output.spinner("Checking the bot token with Telegram (getMe)");
  const check = await checkBotToken(token, apiRoot);
  spinner.clear();
  return check;
}

/** The token an earlier install stored, so a re-run does not need it in the environment again. */
function storedToken(env: Record<string, string | undefined>): string | undefined {
  return readSecretsFile(secretsFilePath(gatewayStateDir(env)))[TELEGRAM_TOKEN_KEY] || undefined;
}
