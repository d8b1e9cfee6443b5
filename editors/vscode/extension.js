// The expc extension: the language server (`expc lsp`) for `.exp` files.
'use strict';
const vscode = require('vscode');
const { LanguageClient } = require('vscode-languageclient/node');

let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration('expc');
  const command = config.get('server.path', 'expc');
  const args = ['lsp', ...config.get('server.args', [])];
  return { run: { command, args }, debug: { command, args } };
}

async function start() {
  client = new LanguageClient('expc', 'expc language server', serverOptions(), {
    documentSelector: [{ scheme: 'file', language: 'exp' }, { scheme: 'untitled', language: 'exp' }],
    synchronize: {
      fileEvents: vscode.workspace.createFileSystemWatcher('**/*.exp'),
    },
  });
  try {
    await client.start();
  } catch (e) {
    vscode.window.showErrorMessage(
      `expc: cannot start \`${serverOptions().run.command} lsp\` (${e.message}). ` +
        'Install expc, or set `expc.server.path` to its binary.',
    );
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('expc.restartServer', async () => {
      if (client) {
        await client.stop();
      }
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration('expc.server')) {
        await vscode.commands.executeCommand('expc.restartServer');
      }
    }),
  );
  await start();
}

async function deactivate() {
  if (client) {
    await client.stop();
  }
}

module.exports = { activate, deactivate };
