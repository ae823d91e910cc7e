// An upstream MCP server built with the official TypeScript SDK (pinned in
// package.json), over Streamable HTTP, for the portal relay tests
// (tests/portals.rs) and the conformance suite run through a portal
// (scripts/conformance-portal.sh --upstream ts).
//
//   node server.mjs PORT
//
// It serves what the conformance suite's server scenarios expect, written as
// TypeScript-SDK users write tools: `server.createMessage()`,
// `server.elicitInput()` and `server.sendLoggingMessage()` without a related
// request, which the SDK sends on the session's standalone GET stream, not
// on the call's stream. The `relay_*` tools do the same through the call's
// own stream (`extra.sendRequest`, `extra.sendNotification`), and `add_tool`
// changes the tool list. The low-level `Server` keeps every schema exact.

import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
    CallToolRequestSchema,
    CompleteRequestSchema,
    CreateMessageResultSchema,
    ElicitResultSchema,
    GetPromptRequestSchema,
    ListPromptsRequestSchema,
    ListResourcesRequestSchema,
    ListResourceTemplatesRequestSchema,
    ListToolsRequestSchema,
    McpError,
    ErrorCode,
    ReadResourceRequestSchema,
    SubscribeRequestSchema,
    UnsubscribeRequestSchema,
    isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';

const PORT = Number(process.argv[2]);
// A 1x1 PNG and a WAV header without samples, as payloads.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const WAV = Buffer.from('RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00\x80>\x00\x00\x02\x00\x10\x00data\x00\x00\x00\x00', 'latin1').toString('base64');
const EMPTY = { type: 'object', properties: {} };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (t) => ({ type: 'text', text: t });
const image = () => ({ type: 'image', data: PNG, mimeType: 'image/png' });
const embedded = (uri = 'test://embedded-resource') => ({
    type: 'resource',
    resource: { uri, mimeType: 'text/plain', text: 'This is an embedded resource content.' },
});

const tool = (name, description, inputSchema = EMPTY) => ({ name, description, inputSchema });
const TOOLS = [
    tool('test_simple_text', 'Returns simple text.'),
    tool('test_image_content', 'Returns an image.'),
    tool('test_audio_content', 'Returns audio.'),
    tool('test_embedded_resource', 'Returns an embedded resource.'),
    tool('test_multiple_content_types', 'Returns text, an image and a resource.'),
    tool('test_tool_with_logging', 'Logs while it runs (server.sendLoggingMessage).'),
    tool('test_tool_with_progress', 'Reports progress.'),
    tool('test_error_handling', 'Always fails.'),
    tool('test_sampling', "Asks the client's model (server.createMessage).", {
        type: 'object', properties: { prompt: { type: 'string' } }, required: ['prompt'],
    }),
    tool('test_elicitation', 'Asks the user (server.elicitInput).', {
        type: 'object', properties: { message: { type: 'string' } }, required: ['message'],
    }),
    tool('test_elicitation_sep1034_defaults', 'Elicitation with defaults.'),
    tool('test_elicitation_sep1330_enums', 'Elicitation with enum schemas.'),
    tool('json_schema_2020_12_tool', 'Tool with JSON Schema 2020-12 features', {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        type: 'object',
        $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
        properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
        additionalProperties: false,
    }),
    tool('relay_sample', "Asks the client's model on the call's own stream.", {
        type: 'object', properties: { prompt: { type: 'string' } }, required: ['prompt'],
    }),
    tool('relay_elicit', 'Asks the user on the call\'s own stream.'),
    tool('relay_logs', 'Sends one log line at each of debug, info, warning and error, on the call\'s stream and (server.sendLoggingMessage) on the standalone stream.'),
    tool('relay_wait', 'Waits a minute unless cancelled.'),
    tool('relay_cancellations', 'How many relay_wait calls were cancelled.'),
    tool('add_tool', 'Adds a tool and announces the change.'),
];
let added = 0;
let cancellations = 0;

const ELICIT_DEFAULTS = {
    type: 'object',
    properties: {
        name: { type: 'string', default: 'John Doe' },
        age: { type: 'integer', default: 30 },
        score: { type: 'number', default: 95.5 },
        status: { type: 'string', enum: ['active', 'inactive', 'pending'], default: 'active' },
        verified: { type: 'boolean', default: true },
    },
};
const ELICIT_ENUMS = {
    type: 'object',
    properties: {
        untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
        titledSingle: { type: 'string', oneOf: [{ const: 'value1', title: 'First' }, { const: 'value2', title: 'Second' }] },
        legacyEnum: { type: 'string', enum: ['opt1', 'opt2'], enumNames: ['Option One', 'Option Two'] },
        untitledMulti: { type: 'array', items: { type: 'string', enum: ['option1', 'option2'] } },
        titledMulti: { type: 'array', items: { anyOf: [{ const: 'value1', title: 'First' }, { const: 'value2', title: 'Second' }] } },
    },
};
const LEVELS = ['debug', 'info', 'warning', 'error'];

/// Every session's server, for announcing list changes.
const sessions = new Map();

function newServer() {
    const server = new Server(
        { name: 'ts-upstream', version: '1.0.0' },
        {
            capabilities: {
                tools: { listChanged: true },
                resources: { subscribe: true, listChanged: true },
                prompts: { listChanged: true },
                logging: {},
                completions: {},
            },
        },
    );
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => callTool(server, request, extra));
    server.setRequestHandler(ListResourcesRequestSchema, async () => ({
        resources: [
            { uri: 'test://static-text', name: 'static-text', mimeType: 'text/plain' },
            { uri: 'test://static-binary', name: 'static-binary', mimeType: 'image/png' },
            { uri: 'test://watched-resource', name: 'watched-resource', mimeType: 'text/plain' },
        ],
    }));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
        resourceTemplates: [{ uriTemplate: 'test://template/{id}/data', name: 'template', mimeType: 'text/plain' }],
    }));
    server.setRequestHandler(ReadResourceRequestSchema, async ({ params: { uri } }) => {
        if (uri === 'test://static-text') {
            return { contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] };
        }
        if (uri === 'test://static-binary') {
            return { contents: [{ uri, mimeType: 'image/png', blob: PNG }] };
        }
        if (uri === 'test://watched-resource') {
            return { contents: [{ uri, mimeType: 'text/plain', text: 'watched' }] };
        }
        const m = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
        if (m) {
            return { contents: [{ uri, mimeType: 'text/plain', text: `Data for id ${m[1]}` }] };
        }
        throw new McpError(-32002, `Resource not found: ${uri}`, { uri });
    });
    server.setRequestHandler(SubscribeRequestSchema, async () => ({}));
    server.setRequestHandler(UnsubscribeRequestSchema, async () => ({}));
    server.setRequestHandler(ListPromptsRequestSchema, async () => ({
        prompts: [
            { name: 'test_simple_prompt', description: 'A simple prompt' },
            {
                name: 'test_prompt_with_arguments', description: 'A prompt with arguments',
                arguments: [{ name: 'arg1', required: true }, { name: 'arg2', required: true }],
            },
            {
                name: 'test_prompt_with_embedded_resource', description: 'A prompt with an embedded resource',
                arguments: [{ name: 'resourceUri', required: true }],
            },
            { name: 'test_prompt_with_image', description: 'A prompt with an image' },
        ],
    }));
    server.setRequestHandler(GetPromptRequestSchema, async ({ params: { name, arguments: args = {} } }) => {
        const say = (content) => ({ messages: [{ role: 'user', content }] });
        switch (name) {
            case 'test_simple_prompt':
                return say(text('This is a simple prompt for testing.'));
            case 'test_prompt_with_arguments':
                return say(text(`Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'`));
            case 'test_prompt_with_embedded_resource':
                return say(embedded(args.resourceUri ?? 'test://example-resource'));
            case 'test_prompt_with_image':
                return say(image());
            default:
                throw new McpError(ErrorCode.InvalidParams, `Unknown prompt ${name}`);
        }
    });
    server.setRequestHandler(CompleteRequestSchema, async () => ({
        completion: { values: ['test1', 'test2'], total: 2, hasMore: false },
    }));
    return server;
}

async function callTool(server, { params: { name, arguments: args = {}, _meta } }, extra) {
    switch (name) {
        case 'test_simple_text':
            return { content: [text('This is a simple text response for testing.')] };
        case 'test_image_content':
            return { content: [image()] };
        case 'test_audio_content':
            return { content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] };
        case 'test_embedded_resource':
            return { content: [embedded()] };
        case 'test_multiple_content_types':
            return { content: [text('Multiple content types test:'), image(), embedded()] };
        case 'test_tool_with_logging':
            for (const data of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
                await server.sendLoggingMessage({ level: 'info', logger: 'conformance', data }, extra.sessionId);
                await sleep(50);
            }
            return { content: [text('Tool with logging executed successfully')] };
        case 'test_tool_with_progress': {
            const progressToken = _meta?.progressToken;
            for (const progress of [0, 50, 100]) {
                if (progressToken !== undefined) {
                    await extra.sendNotification({
                        method: 'notifications/progress',
                        params: { progressToken, progress, total: 100, message: `Completed step ${progress}` },
                    });
                }
                await sleep(50);
            }
            return { content: [text(String(progressToken))] };
        }
        case 'test_error_handling':
            return { content: [text('This tool intentionally returns an error for testing')], isError: true };
        case 'test_sampling': {
            const result = await server.createMessage({
                messages: [{ role: 'user', content: text(args.prompt) }],
                maxTokens: 100,
            });
            return { content: [text(`LLM response: ${result.content.text}`)] };
        }
        case 'test_elicitation': {
            const result = await server.elicitInput({
                message: args.message,
                requestedSchema: {
                    type: 'object',
                    properties: {
                        username: { type: 'string', description: "User's response" },
                        email: { type: 'string', description: "User's email address" },
                    },
                    required: ['username', 'email'],
                },
            });
            return { content: [text(`User response: action=${result.action}, content=${JSON.stringify(result.content)}`)] };
        }
        case 'test_elicitation_sep1034_defaults': {
            const result = await server.elicitInput({
                message: 'Please review and update the form fields with defaults',
                requestedSchema: ELICIT_DEFAULTS,
            });
            return { content: [text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content)}`)] };
        }
        case 'test_elicitation_sep1330_enums': {
            const result = await server.elicitInput({ message: 'Please select options', requestedSchema: ELICIT_ENUMS });
            return { content: [text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content)}`)] };
        }
        case 'json_schema_2020_12_tool':
            return { content: [text(`Received: ${JSON.stringify(args)}`)] };
        case 'relay_sample': {
            const result = await extra.sendRequest(
                {
                    method: 'sampling/createMessage',
                    params: { messages: [{ role: 'user', content: text(args.prompt) }], maxTokens: 100 },
                },
                CreateMessageResultSchema,
            );
            return { content: [text(`LLM response: ${result.content.text}`)] };
        }
        case 'relay_elicit': {
            const result = await extra.sendRequest(
                {
                    method: 'elicitation/create',
                    params: { mode: 'form', message: 'Pick a status', requestedSchema: ELICIT_DEFAULTS },
                },
                ElicitResultSchema,
            );
            return { content: [text(`action=${result.action}, content=${JSON.stringify(result.content)}`)] };
        }
        case 'relay_logs':
            for (const level of LEVELS) {
                await extra.sendNotification({
                    method: 'notifications/message',
                    params: { level, logger: 'call-stream', data: `${level} on the call's stream` },
                });
                // Whatever level the gateway set upstream: every line goes out.
                await server.notification({
                    method: 'notifications/message',
                    params: { level, logger: 'standalone', data: `${level} on the standalone stream` },
                });
            }
            return { content: [text('logged')] };
        case 'relay_wait':
            try {
                await new Promise((resolve, reject) => {
                    const timer = setTimeout(resolve, 60_000);
                    extra.signal.addEventListener('abort', () => {
                        clearTimeout(timer);
                        reject(new Error('cancelled'));
                    });
                });
            } catch {
                cancellations += 1;
                throw new McpError(ErrorCode.InternalError, 'cancelled');
            }
            return { content: [text('waited')] };
        case 'relay_cancellations':
            return { content: [text(String(cancellations))], structuredContent: { result: cancellations } };
        case 'add_tool': {
            added += 1;
            TOOLS.push(tool(`added_${added}`, `Added by add_tool (${added}).`));
            await Promise.all([...sessions.values()].map(({ server: s }) => s.sendToolListChanged().catch(() => {})));
            return { content: [text(`added_${added}`)] };
        }
        default:
            throw new McpError(ErrorCode.InvalidParams, `Unknown tool ${name}`);
    }
}

/// The request body, parsed (the transport takes it parsed).
async function body(req) {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    return raw ? JSON.parse(raw) : undefined;
}

const http = createServer(async (req, res) => {
    if (new URL(req.url, 'http://x').pathname !== '/mcp') {
        res.writeHead(404).end();
        return;
    }
    try {
        const id = req.headers['mcp-session-id'];
        const parsed = req.method === 'POST' ? await body(req) : undefined;
        let session = id ? sessions.get(id) : undefined;
        if (!session && !id && req.method === 'POST' && isInitializeRequest(parsed)) {
            const transport = new StreamableHTTPServerTransport({
                sessionIdGenerator: () => randomUUID(),
                onsessioninitialized: (sid) => sessions.set(sid, session),
            });
            transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
            const server = newServer();
            session = { server, transport };
            await server.connect(transport);
        }
        if (!session) {
            res.writeHead(id ? 404 : 400, { 'content-type': 'application/json' }).end(JSON.stringify({
                jsonrpc: '2.0', id: null,
                error: { code: -32000, message: id ? 'Session not found' : 'No session: send initialize first' },
            }));
            return;
        }
        await session.transport.handleRequest(req, res, parsed);
    } catch (e) {
        if (!res.headersSent) {
            res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({
                jsonrpc: '2.0', id: null, error: { code: -32700, message: String(e) },
            }));
        }
    }
});
http.listen(PORT, '127.0.0.1');
