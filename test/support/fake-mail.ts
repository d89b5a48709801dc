import { createServer, type Server } from 'node:http';

/**
 * A fake of Resend's e-mail API on 127.0.0.1 (src/email/mailer.ts sends through it): POST
 * /emails with a Bearer key records the message and answers `{"id": …}` as Resend
 * documents; GET /__mails?to=ADDRESS lists the messages sent to that address, newest last.
 * POST /__fail?status=N makes it answer N until POST /__fail?status=0.
 */
export interface SentMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  key: string;
}

export async function startFakeMail(port = 0): Promise<{ url: string; server: Server }> {
  const mails: SentMail[] = [];
  let failing = 0;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === 'POST' && url.pathname === '/__fail') {
      failing = Number(url.searchParams.get('status'));
      return void res.end();
    }
    if (req.method === 'GET' && url.pathname === '/__mails') {
      res.setHeader('content-type', 'application/json');
      return void res.end(JSON.stringify(mails.filter((m) => m.to.includes(url.searchParams.get('to') ?? ''))));
    }
    if (req.method === 'POST' && url.pathname === '/emails') {
      const key = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      if (!key) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"statusCode":401,"name":"missing_api_key","message":"Missing API key"}');
      if (failing) return void res.writeHead(failing, { 'content-type': 'application/json' }).end('{"statusCode":500,"name":"internal_server_error","message":"failing"}');
      mails.push({ ...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Omit<SentMail, 'key'>), key });
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ id: crypto.randomUUID() }));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}
