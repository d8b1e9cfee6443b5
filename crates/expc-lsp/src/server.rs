//! The main loop: messages in, documents checked, answers and diagnostics out.
//!
//! Requests are answered in order, on one thread. Diagnostics are published when no
//! message is waiting, so a burst of edits is checked once. A handler that fails answers
//! with an error; nothing a client sends stops the server but `exit`.

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use expc_diagnostics::FileId;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams, CompletionParams,
    CompletionResponse, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, DidSaveTextDocumentParams, DocumentFormattingParams,
    DocumentSymbolParams, DocumentSymbolResponse, GotoDefinitionParams, GotoDefinitionResponse,
    HoverParams, InitializeParams, PrepareRenameResponse, PublishDiagnosticsParams,
    ReferenceParams, RenameParams, SemanticTokensParams, SemanticTokensRangeParams,
    SemanticTokensRangeResult, SemanticTokensResult, SignatureHelpParams,
    TextDocumentPositionParams, TextEdit, Uri, WorkspaceEdit, notification, request,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::analysis::Analysis;
use crate::documents::Documents;
use crate::{
    completion, diagnostics, hover, navigation, position, semantic_tokens, signature, symbols,
};

/// At most this many files of the workspace are checked to find references.
const MAX_WORKSPACE_FILES: usize = 500;

pub struct Server {
    connection: Connection,
    documents: Documents,
    /// The URI the client gave each open document.
    uris: HashMap<PathBuf, Uri>,
    /// Checked programs, by root path; dropped when a file they read changes.
    analyses: HashMap<PathBuf, Analysis>,
    /// Open documents whose diagnostics must be published again.
    stale: BTreeSet<PathBuf>,
    workspace_roots: Vec<PathBuf>,
    shutting_down: bool,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("documents", &self.documents)
            .finish_non_exhaustive()
    }
}

type Answer = Result<Value, (ErrorCode, String)>;

impl Server {
    pub fn new(connection: Connection, init: &Value) -> Server {
        let mut workspace_roots = Vec::new();
        if let Ok(params) = serde_json::from_value::<InitializeParams>(init.clone()) {
            for folder in params.workspace_folders.into_iter().flatten() {
                workspace_roots.extend(position::uri_to_path(&folder.uri));
            }
            #[allow(deprecated)]
            if workspace_roots.is_empty() {
                workspace_roots.extend(params.root_uri.as_ref().and_then(position::uri_to_path));
            }
        }
        Server {
            connection,
            documents: Documents::default(),
            uris: HashMap::new(),
            analyses: HashMap::new(),
            stale: BTreeSet::new(),
            workspace_roots,
            shutting_down: false,
        }
    }

    /// Serves until `exit` or until the client goes away.
    pub fn run(mut self) {
        while let Ok(message) = self.connection.receiver.recv() {
            match message {
                Message::Request(req) => {
                    let id = req.id.clone();
                    let answer = if self.shutting_down {
                        Err((
                            ErrorCode::InvalidRequest,
                            "the server is shutting down".to_owned(),
                        ))
                    } else {
                        catch_unwind(AssertUnwindSafe(|| self.request(req))).unwrap_or_else(|_| {
                            Err((ErrorCode::InternalError, "internal error".to_owned()))
                        })
                    };
                    let response = match answer {
                        Ok(value) => Response::new_ok(id, value),
                        Err((code, message)) => Response::new_err(id, code as i32, message),
                    };
                    if self.connection.sender.send(response.into()).is_err() {
                        return;
                    }
                }
                Message::Notification(n) => {
                    if n.method == notification::Exit::METHOD {
                        return;
                    }
                    let _ = catch_unwind(AssertUnwindSafe(|| self.notification(n)));
                }
                Message::Response(_) => {}
            }
            if self.connection.receiver.is_empty() {
                let _ = catch_unwind(AssertUnwindSafe(|| self.publish_stale()));
            }
        }
    }

    fn request(&mut self, req: Request) -> Answer {
        match req.method.as_str() {
            request::Shutdown::METHOD => {
                self.shutting_down = true;
                Ok(Value::Null)
            }
            request::HoverRequest::METHOD => {
                let p: HoverParams = params(req.params)?;
                let answer = self.at(&p.text_document_position_params, hover::hover);
                to_value(answer.flatten())
            }
            request::GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = params(req.params)?;
                let answer = self.at(&p.text_document_position_params, navigation::definition);
                to_value(answer.flatten().map(GotoDefinitionResponse::Scalar))
            }
            request::References::METHOD => {
                let p: ReferenceParams = params(req.params)?;
                to_value(self.references(&p.text_document_position, p.context.include_declaration))
            }
            request::Completion::METHOD => {
                let p: CompletionParams = params(req.params)?;
                let items = self
                    .at(&p.text_document_position, completion::completion)
                    .unwrap_or_default();
                to_value(CompletionResponse::Array(items))
            }
            request::DocumentSymbolRequest::METHOD => {
                let p: DocumentSymbolParams = params(req.params)?;
                let answer = self
                    .analysis(&p.text_document.uri)
                    .map(|a| DocumentSymbolResponse::Nested(symbols::document_symbols(a)));
                to_value(answer)
            }
            request::SemanticTokensFullRequest::METHOD => {
                let p: SemanticTokensParams = params(req.params)?;
                let answer = self
                    .analysis(&p.text_document.uri)
                    .map(|a| SemanticTokensResult::Tokens(semantic_tokens::tokens(a, None)));
                to_value(answer)
            }
            request::SemanticTokensRangeRequest::METHOD => {
                let p: SemanticTokensRangeParams = params(req.params)?;
                let answer = self.analysis(&p.text_document.uri).map(|a| {
                    SemanticTokensRangeResult::Tokens(semantic_tokens::tokens(a, Some(p.range)))
                });
                to_value(answer)
            }
            request::SignatureHelpRequest::METHOD => {
                let p: SignatureHelpParams = params(req.params)?;
                let answer = self.at(&p.text_document_position_params, signature::signature_help);
                to_value(answer.flatten())
            }
            request::Formatting::METHOD => {
                let p: DocumentFormattingParams = params(req.params)?;
                to_value(self.format(&p.text_document.uri))
            }
            request::PrepareRenameRequest::METHOD => {
                let p: TextDocumentPositionParams = params(req.params)?;
                self.prepare_rename(&p)
            }
            request::Rename::METHOD => {
                let p: RenameParams = params(req.params)?;
                self.rename(&p)
            }
            request::CodeActionRequest::METHOD => {
                let p: CodeActionParams = params(req.params)?;
                to_value(self.code_actions(&p))
            }
            other => Err((
                ErrorCode::MethodNotFound,
                format!("unknown request `{other}`"),
            )),
        }
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            notification::DidOpenTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) {
                    if let Some(path) = position::uri_to_path(&p.text_document.uri) {
                        self.documents
                            .open(&path, p.text_document.text, p.text_document.version);
                        self.uris
                            .insert(expc_check::loader::normalize(&path), p.text_document.uri);
                        self.changed(&path);
                    }
                }
            }
            notification::DidChangeTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) {
                    let Some(path) = position::uri_to_path(&p.text_document.uri) else {
                        return;
                    };
                    // Incremental synchronisation: each change applies to the text the
                    // previous one left; a change without a range is the whole text.
                    let version = p.text_document.version;
                    let mut applied = false;
                    for change in p.content_changes {
                        applied |= self
                            .documents
                            .edit(&path, change.range, change.text, version);
                    }
                    if applied {
                        self.uris
                            .entry(expc_check::loader::normalize(&path))
                            .or_insert(p.text_document.uri);
                        self.changed(&path);
                    }
                }
            }
            notification::DidSaveTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidSaveTextDocumentParams>(n.params) {
                    if let Some(path) = position::uri_to_path(&p.text_document.uri) {
                        self.changed(&path);
                    }
                }
            }
            notification::DidCloseTextDocument::METHOD => {
                if let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) {
                    if let Some(path) = position::uri_to_path(&p.text_document.uri) {
                        self.documents.close(&path);
                        self.changed(&path);
                        self.analyses.remove(&expc_check::loader::normalize(&path));
                        self.stale.remove(&expc_check::loader::normalize(&path));
                        // Its diagnostics go with it.
                        self.publish(&p.text_document.uri, Vec::new(), None);
                        self.uris.remove(&expc_check::loader::normalize(&path));
                    }
                }
            }
            notification::DidChangeWatchedFiles::METHOD => {
                self.analyses.clear();
                self.stale.extend(self.documents.paths().cloned());
            }
            _ => {}
        }
    }

    /// A file changed: every analysis that read it is out of date.
    fn changed(&mut self, path: &Path) {
        let path = expc_check::loader::normalize(path);
        let dependent: Vec<PathBuf> = self
            .analyses
            .iter()
            .filter(|(root, a)| **root == path || a.file_at(&path).is_some())
            .map(|(root, _)| root.clone())
            .collect();
        for root in dependent {
            self.analyses.remove(&root);
            if self.documents.get(&root).is_some() {
                self.stale.insert(root);
            }
        }
        if self.documents.get(&path).is_some() {
            self.stale.insert(path);
        }
    }

    fn publish_stale(&mut self) {
        let stale = std::mem::take(&mut self.stale);
        for path in stale {
            let Some(uri) = self.uris.get(&path).cloned() else {
                continue;
            };
            let version = self.documents.get(&path).map(|d| d.version);
            let Some(analysis) = self.analysis_of(&path) else {
                continue;
            };
            let diagnostics = diagnostics::of_root(analysis);
            self.publish(&uri, diagnostics, version);
        }
    }

    fn publish(&self, uri: &Uri, diagnostics: Vec<lsp_types::Diagnostic>, version: Option<i32>) {
        let params = PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics,
            version,
        };
        let _ = self.connection.sender.send(
            Notification::new(notification::PublishDiagnostics::METHOD.to_owned(), params).into(),
        );
    }

    /// The analysis of the program rooted at `path`, checked now if needed.
    fn analysis_of(&mut self, path: &Path) -> Option<&Analysis> {
        let path = expc_check::loader::normalize(path);
        if !self.analyses.contains_key(&path) {
            let text = self.documents.text(&path).ok()?;
            let analysis = Analysis::new(&path, text, &self.documents);
            self.analyses.insert(path.clone(), analysis);
        }
        self.analyses.get(&path)
    }

    fn analysis(&mut self, uri: &Uri) -> Option<&Analysis> {
        let path = position::uri_to_path(uri)?;
        self.analysis_of(&path)
    }

    /// Runs `f` at a position of a document.
    fn at<T>(
        &mut self,
        p: &TextDocumentPositionParams,
        f: impl FnOnce(&Analysis, FileId, u32) -> T,
    ) -> Option<T> {
        let analysis = self.analysis(&p.text_document.uri)?;
        let file = analysis.root_file()?;
        let offset = position::offset(file, p.position);
        Some(f(analysis, analysis.root, offset))
    }

    /// The programs references are looked for in: every open document and every `.exp`
    /// file of the workspace folders.
    fn workspace_analyses(&mut self, origin: &Path) -> Vec<PathBuf> {
        let mut roots: BTreeSet<PathBuf> = self.documents.paths().cloned().collect();
        roots.insert(expc_check::loader::normalize(origin));
        for dir in self.workspace_roots.clone() {
            for path in exp_files(&dir, MAX_WORKSPACE_FILES) {
                roots.insert(path);
            }
        }
        let roots: Vec<PathBuf> = roots.into_iter().take(MAX_WORKSPACE_FILES).collect();
        for r in &roots {
            self.analysis_of(r);
        }
        roots
    }

    fn references(
        &mut self,
        p: &TextDocumentPositionParams,
        declaration: bool,
    ) -> Option<Vec<lsp_types::Location>> {
        let origin = position::uri_to_path(&p.text_document.uri)?;
        let key = self.at(p, |a, file, offset| {
            a.symbol_at(file, offset).and_then(|(s, _)| a.key(s))
        })??;
        let roots = self.workspace_analyses(&origin);
        let analyses: Vec<&Analysis> = roots.iter().filter_map(|r| self.analyses.get(r)).collect();
        Some(navigation::references(&key, &analyses, declaration))
    }

    fn prepare_rename(&mut self, p: &TextDocumentPositionParams) -> Answer {
        let found = self.at(p, |a, file, offset| {
            let (symbol, span) = a.symbol_at(file, offset)?;
            let s = a.index.get(symbol);
            let range = position::range(a.root_file()?, span.start, span.end);
            Some((navigation::renamable(s.kind), s.kind.noun(), range))
        });
        match found.flatten() {
            Some((true, _, range)) => to_value(PrepareRenameResponse::Range(range)),
            Some((false, noun, _)) => Err((
                ErrorCode::InvalidRequest,
                format!(
                    "a {noun} cannot be renamed: only tasks, params and task inputs and outputs can"
                ),
            )),
            None => Err((
                ErrorCode::InvalidRequest,
                "there is no name here".to_owned(),
            )),
        }
    }

    fn rename(&mut self, p: &RenameParams) -> Answer {
        let position = &p.text_document_position;
        let origin = position::uri_to_path(&position.text_document.uri)
            .ok_or((ErrorCode::InvalidParams, "not a file".to_owned()))?;
        let key = self
            .at(position, |a, file, offset| {
                a.symbol_at(file, offset).and_then(|(s, _)| a.key(s))
            })
            .flatten()
            .ok_or((
                ErrorCode::InvalidRequest,
                "there is no name here".to_owned(),
            ))?;
        let roots = self.workspace_analyses(&origin);
        let origin_analysis = self
            .analyses
            .get(&expc_check::loader::normalize(&origin))
            .ok_or((
                ErrorCode::InternalError,
                "the document is not loaded".to_owned(),
            ))?;
        let analyses: Vec<&Analysis> = roots.iter().filter_map(|r| self.analyses.get(r)).collect();
        let edit: WorkspaceEdit = navigation::rename(&key, origin_analysis, &analyses, &p.new_name)
            .map_err(|e| (ErrorCode::InvalidRequest, e))?;
        to_value(edit)
    }

    fn format(&mut self, uri: &Uri) -> Option<Vec<TextEdit>> {
        let path = position::uri_to_path(uri)?;
        let text = self.documents.text(&path).ok()?;
        let formatted = expc_fmt::format_source(FileId(0), &text).ok()?;
        if formatted == text {
            return Some(Vec::new());
        }
        let file = expc_diagnostics::SourceFile::new(FileId(0), "", text.as_str());
        Some(vec![TextEdit {
            range: position::range(&file, 0, text.len() as u32),
            new_text: formatted,
        }])
    }

    fn code_actions(&mut self, p: &CodeActionParams) -> Option<Vec<CodeActionOrCommand>> {
        let uri = p.text_document.uri.clone();
        let analysis = self.analysis(&uri)?;
        let file = analysis.root_file()?;
        let start = position::offset(file, p.range.start);
        let end = position::offset(file, p.range.end);
        let published = diagnostics::of_root(analysis);
        let mut actions = Vec::new();
        for (d, lsp) in analysis
            .diagnostics
            .iter()
            .filter(|d| d.span().file == analysis.root)
            .zip(published)
        {
            let span = d.span();
            if span.start > end || span.end < start {
                continue;
            }
            let Some(help) = &d.help else {
                continue;
            };
            let Some(replacement) = diagnostics::suggestion(help, file.slice(span)) else {
                continue;
            };
            let edit = TextEdit {
                range: position::range(file, span.start, span.end),
                new_text: replacement.clone(),
            };
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: format!("replace with `{}`", replacement.trim_matches('"')),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![lsp]),
                edit: Some(WorkspaceEdit {
                    changes: Some(HashMap::from([(uri.clone(), vec![edit])])),
                    ..WorkspaceEdit::default()
                }),
                command: None,
                is_preferred: Some(true),
                disabled: None,
                data: None,
            }));
        }
        Some(actions)
    }
}

fn params<T: DeserializeOwned>(value: Value) -> Result<T, (ErrorCode, String)> {
    serde_json::from_value(value).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn to_value<T: serde::Serialize>(value: T) -> Answer {
    serde_json::to_value(value).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

/// `.exp` files under `dir`, skipping hidden folders and build output, at most `limit`.
fn exp_files(dir: &Path, limit: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if p.is_dir() {
                if depth < 8 && !name.starts_with('.') && name != "target" && name != "node_modules"
                {
                    stack.push((p, depth + 1));
                }
            } else if p.extension().is_some_and(|e| e == "exp") {
                out.push(expc_check::loader::normalize(&p));
                if out.len() >= limit {
                    return out;
                }
            }
        }
    }
    out
}
