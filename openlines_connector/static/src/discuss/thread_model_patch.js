import { Thread } from "@mail/core/common/thread_model";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

/**
 * An Open Lines dialog's session in Discuss (issue 16). The server sends ``openlines_info``
 * with the thread (models/discuss_channel_openlines.py): the messenger, the line, the dialog's
 * state and whether closing asks for confirmation. Every action goes through the dialog's own
 * server methods, which check the caller.
 */
patch(Thread.prototype, {
    setup() {
        super.setup(...arguments);
        /** @type {{dialog_id: number, source: string, source_label: string, line: string, state: string, close_confirmation: boolean}|false|undefined} */
        this.openlines_info = undefined;
        /** the composer writes internal notes (the client never gets them) */
        this.openlinesNoteMode = false;
    },
    /** A dialog of the queue, previewed by an operator who has not taken it: read only. */
    get openlinesQueued() {
        return this.openlines_info?.state === "queued" && !this.self_member_id;
    },
    get openlinesOpen() {
        return Boolean(this.openlines_info) && this.openlines_info.state !== "closed";
    },
    get composerDisabled() {
        return this.openlinesQueued || super.composerDisabled;
    },
    get composerDisabledText() {
        if (this.openlinesQueued) {
            return _t("A preview of the queue: take the dialog to answer the client.");
        }
        return super.composerDisabledText;
    },
    get openlinesComposerPlaceholder() {
        return this.openlinesNoteMode ? _t("Internal note: the client does not see it…") : undefined;
    },
    _computeDiscussAppCategory() {
        if (this.openlinesQueued && this.store.discuss?.openlinesQueueCategory) {
            return this.store.discuss.openlinesQueueCategory;
        }
        return super._computeDiscussAppCategory();
    },
    _computeDisplayInSidebar() {
        return this.openlinesQueued || super._computeDisplayInSidebar();
    },
    _openlinesCall(method, args = []) {
        return this.store.env.services.orm.call("openlines.dialog", method, [
            [this.openlines_info.dialog_id],
            ...args,
        ]);
    },
    /** Ask the line's question before closing, when the line says so. */
    async openlinesConfirmClose() {
        if (!this.openlines_info.close_confirmation) {
            return true;
        }
        return new Promise((resolve) => {
            this.store.env.services.dialog.add(
                ConfirmationDialog,
                {
                    title: _t("Close the dialog"),
                    body: _t("Close this dialog? The client will have to write again to reopen it."),
                    confirmLabel: _t("Close dialog"),
                    confirm: () => resolve(true),
                    cancel: () => resolve(false),
                },
                { onClose: () => resolve(false) }
            );
        });
    },
    /** Close the dialog from Discuss: the line's closing text, rating request and KPIs follow. */
    async openlinesClose() {
        if (!this.openlinesOpen || !(await this.openlinesConfirmClose())) {
            return false;
        }
        await this._openlinesCall("action_close");
        return true;
    },
    /** Leaving an open dialog's session closes the dialog (asking first when the line says so). */
    async leaveChannel({ force = false } = {}) {
        if (this.openlinesOpen && this.self_member_id && !force) {
            if (!(await this.openlinesClose())) {
                return;
            }
            return super.leaveChannel({ force: true });
        }
        return super.leaveChannel(...arguments);
    },
    /** Take a queued dialog: the operator joins its session and answers. */
    async openlinesTake() {
        await this._openlinesCall("action_take");
        await this.store.fetchChannel(this.id);
    },
    /** A supervisor joins a dialog of a line he supervises. */
    async openlinesJoin() {
        await this._openlinesCall("action_join");
        await this.store.fetchChannel(this.id);
    },
    /** To a colleague or to another line's queue, with a note: the dialog form's wizard. */
    openlinesTransfer() {
        return this.store.env.services.action.doAction("openlines_connector.openlines_dialog_transfer_action", {
            additionalContext: { default_dialog_id: this.openlines_info.dialog_id },
        });
    },
    openlinesToggleNote() {
        this.openlinesNoteMode = !this.openlinesNoteMode;
    },
});
