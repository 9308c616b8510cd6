#include "CLineEditor.h"

#include <errno.h>
#include <histedit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct swl_line_editor {
    EditLine *el;
    History *history;
    HistEvent event;
    char *prompt;
    char *history_path;
};

static char *prompt_of(EditLine *el) {
    swl_line_editor *editor = NULL;
    el_get(el, EL_CLIENTDATA, &editor);
    return editor && editor->prompt ? editor->prompt : "";
}

swl_line_editor *swl_line_editor_open(const char *program, const char *history_path, int history_size) {
    swl_line_editor *editor = calloc(1, sizeof *editor);
    if (!editor) return NULL;
    editor->el = el_init(program, stdin, stdout, stderr);
    if (!editor->el) { free(editor); return NULL; }
    editor->history = history_init();
    if (!editor->history) { el_end(editor->el); free(editor); return NULL; }
    history(editor->history, &editor->event, H_SETSIZE, history_size);
    history(editor->history, &editor->event, H_SETUNIQUE, 1);
    if (history_path) {
        editor->history_path = strdup(history_path);
        history(editor->history, &editor->event, H_LOAD, history_path);
    }
    el_set(editor->el, EL_CLIENTDATA, editor);
    el_set(editor->el, EL_PROMPT, prompt_of);
    el_set(editor->el, EL_EDITOR, "emacs");
    el_set(editor->el, EL_HIST, history, editor->history);
    el_set(editor->el, EL_SIGNAL, 0);
    el_source(editor->el, NULL);  // ~/.editrc, like other libedit programs
    return editor;
}

const char *swl_line_editor_read(swl_line_editor *editor, const char *prompt, int *interrupted) {
    free(editor->prompt);
    editor->prompt = strdup(prompt);
    int count = 0;
    errno = 0;
    const char *line = el_gets(editor->el, &count);
    *interrupted = (line == NULL && errno == EINTR) ? 1 : 0;
    return count > 0 ? line : (*interrupted ? NULL : line);
}

int swl_line_editor_line_is_empty(swl_line_editor *editor) {
    const LineInfo *info = el_line(editor->el);
    return info == NULL || info->lastchar == info->buffer;
}

void swl_line_editor_clear_line(swl_line_editor *editor) {
    const LineInfo *info = el_line(editor->el);
    if (info == NULL || info->lastchar == info->buffer) return;
    el_cursor(editor->el, (int)(info->lastchar - info->cursor));
    info = el_line(editor->el);
    el_deletestr(editor->el, (int)(info->lastchar - info->buffer));
}

void swl_line_editor_remember(swl_line_editor *editor, const char *line) {
    history(editor->history, &editor->event, H_ENTER, line);
    if (editor->history_path) history(editor->history, &editor->event, H_SAVE, editor->history_path);
}

void swl_line_editor_close(swl_line_editor *editor) {
    if (!editor) return;
    el_end(editor->el);
    history_end(editor->history);
    free(editor->prompt);
    free(editor->history_path);
    free(editor);
}

void swl_install_interrupting_handler(void (*handler)(int)) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: Ctrl-C ends a blocking read
    sigaction(SIGINT, &action, NULL);
}
