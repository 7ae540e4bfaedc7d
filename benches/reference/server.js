// Reference Clerk webhook receiver: the express + svix (npm) + pg stack that
// `gpt-deploy serve` replaces. It does the same work per request so that
// scripts/bench-serve.sh can compare the two side by side:
//   - raw body (1 MiB limit, 413 above), svix verification of svix-*/webhook-*
//     headers with the default 5-minute tolerance, 401 with a short reason;
//   - JSON parse after verification (400 when malformed);
//   - user.deleted: one transaction that claims the svix message id in
//     gpt_oauth_events (on conflict do nothing) and deletes the user's rows;
//   - one JSON log line per delivery, never the body or the signature.
// Configuration: CLERK_WEBHOOK_SECRET, DATABASE_URL, LISTEN_ADDR (host:port).
"use strict";

const express = require("express");
const { Webhook } = require("svix");
const { Pool } = require("pg");

const secret = process.env.CLERK_WEBHOOK_SECRET;
if (!secret) {
  console.error("CLERK_WEBHOOK_SECRET is not set");
  process.exit(2);
}
const wh = new Webhook(secret);
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const [host, port] = (process.env.LISTEN_ADDR || "127.0.0.1:8090").split(":");

const log = (level, message, fields) =>
  process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }) + "\n");

const app = express();
app.disable("x-powered-by");

app.get("/healthz", (_req, res) => res.json({ status: "alive" }));

app.post(
  "/v2/oauth/webhooks/clerk",
  express.raw({ type: () => true, limit: "1mb" }),
  async (req, res) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const headers = {
      "svix-id": req.get("svix-id") || req.get("webhook-id"),
      "svix-timestamp": req.get("svix-timestamp") || req.get("webhook-timestamp"),
      "svix-signature": req.get("svix-signature") || req.get("webhook-signature"),
    };
    try {
      wh.verify(body, headers);
    } catch (e) {
      log("WARN", "webhook delivery rejected; nothing written", { reason: e.message });
      return res.status(401).json({ error: e.message });
    }
    const messageId = headers["svix-id"];
    let event;
    try {
      event = JSON.parse(body.toString("utf8"));
    } catch (_e) {
      log("WARN", "verified delivery is not a Clerk event", { message_id: messageId });
      return res.status(400).json({ error: "body is not valid JSON" });
    }
    if (!event || typeof event.type !== "string") {
      return res.status(400).json({ error: "body is not a Clerk event" });
    }
    if (event.type !== "user.deleted") {
      log("INFO", "event type needs no action; acknowledged", { message_id: messageId, event_type: event.type });
      return res.status(200).json({ status: "ignored" });
    }
    const userId = event.data && typeof event.data.id === "string" && event.data.id ? event.data.id : null;
    let client;
    try {
      client = await pool.connect();
      await client.query("begin");
      const claim = await client.query(
        `insert into gpt_oauth_events (event_type, clerk_user_id, details, svix_message_id)
         values ('user.deleted', $1, $2, $3) on conflict (svix_message_id) do nothing returning id`,
        [userId, JSON.stringify({ svix_message_id: messageId, outcome: userId ? "processed" : "ignored" }), messageId],
      );
      if (claim.rowCount === 0 || !userId) {
        await client.query("commit");
        const status = claim.rowCount === 0 ? "duplicate" : "ignored";
        log("INFO", "user.deleted " + status, { message_id: messageId });
        return res.status(200).json({ status });
      }
      const codes = await client.query("delete from gpt_authorization_codes where clerk_user_id = $1", [userId]);
      const tokens = await client.query("delete from gpt_refresh_tokens where clerk_user_id = $1", [userId]);
      const sessions = await client.query("delete from gpt_sessions where clerk_user_id = $1", [userId]);
      const deleted = {
        authorization_codes: codes.rowCount,
        refresh_tokens: tokens.rowCount,
        sessions: sessions.rowCount,
      };
      await client.query(
        "update gpt_oauth_events set details = details || jsonb_build_object('deleted', $2::jsonb) where id = $1",
        [claim.rows[0].id, JSON.stringify(deleted)],
      );
      await client.query("commit");
      log("INFO", "user.deleted processed", { message_id: messageId, clerk_user_id: userId, ...deleted });
      return res.status(200).json({ status: "processed" });
    } catch (e) {
      if (client) await client.query("rollback").catch(() => {});
      log("ERROR", "database unavailable", { message_id: messageId, error: e.message });
      return res.status(503).json({ error: "database unavailable" });
    } finally {
      if (client) client.release();
    }
  },
);

// express.raw reports an oversized body as an error with status 413.
app.use((err, _req, res, _next) => {
  const status = err.status || 500;
  res.status(status).json({ error: status === 413 ? "body larger than 1 MiB" : "bad request" });
});

const server = app.listen(Number(port), host, () => log("INFO", "listening", { addr: `${host}:${port}` }));
const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
