// A small non-variadic C API over libedit (BSD licence) for the chat REPL: Swift cannot call
// libedit's variadic el_set/history functions directly.
#ifndef CLINEEDITOR_H
#define CLINEEDITOR_H

typedef struct swl_line_editor swl_line_editor;

/// Opens an editor on the terminal (stdin/stdout/stderr) with emacs key bindings and a history
/// of `history_size` lines, loaded from `history_path` when it is not NULL.
swl_line_editor *swl_line_editor_open(const char *program, const char *history_path, int history_size);

/// Reads one line with `prompt`. Returns NULL at end of input or when a signal interrupted
/// the read (then *interrupted is 1). The returned text (with its newline) is owned by the
/// editor and valid until the next call.
const char *swl_line_editor_read(swl_line_editor *editor, const char *prompt, int *interrupted);

/// Whether the line being edited is empty (meaningful after an interrupted read).
int swl_line_editor_line_is_empty(swl_line_editor *editor);

// Empties the line being edited (after a Ctrl-C, so the next read starts afresh).
void swl_line_editor_clear_line(swl_line_editor *editor);

/// Adds a line to the history and saves the history file (if any).
void swl_line_editor_remember(swl_line_editor *editor, const char *line);

void swl_line_editor_close(swl_line_editor *editor);

/// Installs `handler` for SIGINT without SA_RESTART, so a blocking read returns when Ctrl-C
/// is pressed instead of resuming.
void swl_install_interrupting_handler(void (*handler)(int));

#endif
