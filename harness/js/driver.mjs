// An Element-grade Matrix client for the Python tests: matrix-js-sdk 34.13 with Rust crypto,
// its own cross-signing bootstrapped, OnlySignedDevicesIsolationMode (what Element does since
// April 2026: keys only for, and messages only from, devices cross-signed by their owner).
//
//   node driver.mjs HOMESERVER USER_ID PASSWORD
//
// Protocol: JSON lines. stdin: {"id": n, "cmd": ..., ...}; stdout: {"id": n, "ok": true, ...}
// or {"id": n, "ok": false, "error": "..."} per command, and {"event": ...} lines as things
// happen ("ready" once, then "message" for every room message seen, decrypted when possible).
// Commands: join {room}, wait_room {room} (synced, encryption state known), send {room, body,
// thread_root?, formatted_body?, mentions?}, device_signed {user, device}, push_actions {event_id} (what this user's push
// rules say about a message seen, as Element computes it), quit. Invites are joined
// automatically.
import { createInterface } from "node:readline";
import { pathToFileURL, fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

// The SDK logs through console.* at DEBUG from every child logger: stdout carries the
// protocol only; SDK noise goes to stderr when HARNESS_DEBUG is set, else nowhere.
const debug = process.env.HARNESS_DEBUG ? (...a) => process.stderr.write(a.join(" ") + "\n") : () => {};
for (const name of ["log", "info", "debug", "trace", "warn", "error"]) console[name] = debug;

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

// One entry point only (the SDK throws on a second one): its `main`, by file URL.
const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, "node_modules", "matrix-js-sdk");
const main = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")).main;
const sdk = await import(pathToFileURL(join(pkgDir, main)).href);

const [homeserver, userId, password] = process.argv.slice(2);
const localpart = userId.slice(1).split(":")[0];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

// A fresh device id every run: the store is in memory, and a re-used device id whose keys
// are gone breaks the key upload.
const deviceId = "JS" + randomBytes(5).toString("hex").toUpperCase();
const loginClient = sdk.createClient({ baseUrl: homeserver });
const login = await loginClient.login("m.login.password", {
  identifier: { type: "m.id.user", user: localpart },
  password,
  device_id: deviceId,
  initial_device_display_name: "js-sdk harness",
});
const client = sdk.createClient({
  baseUrl: homeserver,
  accessToken: login.access_token,
  userId: login.user_id,
  deviceId: login.device_id,
});
await client.initRustCrypto({ useIndexedDB: false });
const crypto = client.getCrypto();
await crypto.bootstrapCrossSigning({
  setupNewCrossSigning: true,
  authUploadDeviceSigningKeys: async (makeRequest) =>
    makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: localpart }, password }),
});
crypto.setDeviceIsolationMode(new sdk.Crypto.OnlySignedDevicesIsolationMode());

const relation = (ev) => ev.getWireContent()["m.relates_to"] ?? ev.getContent()["m.relates_to"] ?? null;
const reported = new Set();
const seen = new Map(); // event id -> MatrixEvent, for push_actions
function report(ev) {
  if (ev.getType() !== "m.room.message" && !ev.isDecryptionFailure()) return;
  const failed = ev.isDecryptionFailure();
  if (!failed) seen.set(ev.getId(), ev);
  const key = ev.getId() + (failed ? ":failed" : "");
  if (reported.has(key)) return;
  reported.add(key);
  const rel = relation(ev);
  out({
    event: "message",
    room_id: ev.getRoomId(),
    event_id: ev.getId(),
    sender: ev.getSender(),
    body: failed ? null : ev.getContent().body ?? null,
    msgtype: failed ? null : ev.getContent().msgtype ?? null,
    formatted_body: failed ? null : ev.getContent().formatted_body ?? null,
    mentions: failed ? null : ev.getContent()["m.mentions"] ?? null,
    encrypted: ev.isEncrypted(),
    decryption_failure: failed,
    thread_root: rel && rel.rel_type === "m.thread" ? rel.event_id : null,
    reply_to: rel?.["m.in_reply_to"]?.event_id ?? null,
    ts: ev.getTs(),
    seen_ms: Date.now(),
  });
}
client.on("event", (ev) => {
  if (!ev.isEncrypted()) report(ev);
  else if (!ev.isBeingDecrypted() && ev.getClearContent() !== null) report(ev);
});
client.on("Event.decrypted", (ev) => report(ev));
client.on("RoomMember.membership", (_e, member) => {
  if (member.userId === client.getUserId() && member.membership === "invite") {
    client.joinRoom(member.roomId).catch((e) => debug("join failed", e));
  }
});

const prepared = new Promise((resolve) => {
  client.on("sync", (state) => {
    if (state === "PREPARED" || state === "SYNCING") resolve();
  });
});
await client.startClient({ threadSupport: true, initialSyncLimit: 20 });
await prepared;
out({ event: "ready", user_id: client.getUserId(), device_id: client.getDeviceId() });

async function handle(msg) {
  switch (msg.cmd) {
    case "join":
      await client.joinRoom(msg.room);
      return {};
    case "wait_room":
      // Sending into an encrypted room before its state is synced would send plaintext.
      await waitFor(
        () => client.getRoom(msg.room)?.getMyMembership() === "join" && client.getRoom(msg.room).currentState.getStateEvents("m.room.create", "") !== null,
        msg.timeout_ms ?? 15000,
        `room ${msg.room}`,
      );
      return { encrypted: await crypto.isEncryptionEnabledInRoom(msg.room) };
    case "send": {
      const content = { msgtype: "m.text", body: msg.body };
      if (msg.formatted_body) Object.assign(content, { format: "org.matrix.custom.html", formatted_body: msg.formatted_body });
      if (msg.mentions) content["m.mentions"] = { user_ids: msg.mentions };
      if (msg.thread_root) {
        content["m.relates_to"] = {
          rel_type: "m.thread",
          event_id: msg.thread_root,
          is_falling_back: true,
          "m.in_reply_to": { event_id: msg.thread_root },
        };
      }
      const res = await client.sendEvent(msg.room, msg.thread_root ?? null, "m.room.message", content);
      return { event_id: res.event_id, sent_ms: Date.now() };
    }
    case "device_signed": {
      // Whether (as this client sees it) the device is cross-signed by its owner; waits for
      // it up to timeout_ms, re-downloading the owner's keys.
      let status = null;
      const deadline = Date.now() + (msg.timeout_ms ?? 15000);
      while (Date.now() < deadline) {
        await crypto.getUserDeviceInfo([msg.user], true);
        status = await crypto.getDeviceVerificationStatus(msg.user, msg.device);
        if (status?.signedByOwner) break;
        await sleep(200);
      }
      return { signed_by_owner: Boolean(status?.signedByOwner), known: status !== null };
    }
    case "push_actions": {
      // The push rules as Element evaluates them on the (decrypted) event: the same
      // PushProcessor that decides the badge, the sound and the highlight.
      await waitFor(() => seen.has(msg.event_id), msg.timeout_ms ?? 15000, `event ${msg.event_id}`);
      const details = client.getPushDetailsForEvent(seen.get(msg.event_id), true);
      const actions = details?.actions ?? { notify: false, tweaks: {} };
      return {
        notify: Boolean(actions.notify),
        highlight: Boolean(actions.tweaks?.highlight),
        sound: actions.tweaks?.sound ?? null,
        rule_id: details?.rule?.rule_id ?? null,
      };
    }
    case "quit":
      client.stopClient();
      return {};
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    out({ ok: false, error: `not JSON: ${e.message}` });
    continue;
  }
  handle(msg).then(
    (res) => {
      out({ id: msg.id, ok: true, ...res });
      if (msg.cmd === "quit") process.exit(0);
    },
    (err) => out({ id: msg.id, ok: false, error: String(err?.message ?? err) }),
  );
}
// stdin closed: end the process (a started client keeps a 30 s /sync long-poll).
client.stopClient();
process.exit(0);
