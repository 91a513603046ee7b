// The rollgate extension: starts `rollgate lsp` for YAML and JSON files of the workspace and
// hands it the workspace folder; diagnostics, hover, quick fixes, definitions and symbols all
// come from the server.
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const command = vscode.workspace.getConfiguration("rollgate").get<string>("path", "rollgate");
  const serverOptions: ServerOptions = {
    command,
    args: ["lsp"],
    transport: TransportKind.stdio,
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "yaml" },
      { scheme: "file", language: "json" },
      { scheme: "untitled", language: "yaml" },
    ],
    synchronize: {
      // The server also registers these itself; this covers clients without registration.
      fileEvents: vscode.workspace.createFileSystemWatcher("**/{*.yaml,*.yml,*.json,.rollgate.yaml,.rollgate.yml}"),
    },
  };
  client = new LanguageClient("rollgate", "rollgate", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("rollgate.path") && client) {
        await client.restart();
      }
    }),
  );
  await client.start();
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop();
  }
}
