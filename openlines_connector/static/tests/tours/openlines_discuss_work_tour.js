import { registry } from "@web/core/registry";

/**
 * An operator works in Discuss (issue 16). Set up by tests/test_tour_discuss.py: "Queued Client"
 * waits in the queue of "Test line"; "Assigned Client" is the operator's dialog; both write from
 * Telegram, and so does "Leaving Client", his too; the line asks before closing; "Carl Colleague"
 * is another operator of the line.
 */
const QUEUED = "Можно ли оплатить при получении?";
const NOTE = "Клиент постоянный, можно скидку";
const TRANSFER_NOTE = "Вопрос по возврату";
const queued = ".o-mail-DiscussSidebarChannel:contains(Queued Client)";
const assigned = ".o-mail-DiscussSidebarChannel:contains(Assigned Client)";
const leaving = ".o-mail-DiscussSidebarChannel:contains(Leaving Client)";

registry.category("web_tour.tours").add("openlines_discuss_work_tour", {
    steps: () => [
        // -- the queue: counted, previewed read-only, taken
        {
            content: "The queue of the operator's lines is a sidebar category with its count",
            trigger: ".o-openlines-QueueCategory .o-openlines-queueCount:contains(1)",
        },
        {
            content: "Preview the queued dialog",
            trigger: queued,
            run: "click",
        },
        {
            content: "The client's words are shown",
            trigger: `.o-mail-Discuss .o-mail-Message:contains(${QUEUED})`,
        },
        {
            content: "Read only: no composer before Take",
            trigger: ".o-mail-DiscussContent:not(:has(.o-mail-Composer-input)):contains(take the dialog to answer)",
        },
        {
            content: "The header says the messenger and the line",
            trigger: ".o-openlines-Header:has(.o-openlines-source:contains(Telegram)) .o-openlines-line:contains(Test line)",
        },
        {
            content: "Take the dialog",
            trigger: ".o-openlines-Header .o-openlines-take",
            run: "click",
        },
        {
            content: "Taken: the composer is there, the queue is empty",
            trigger: ".o-mail-DiscussContent .o-mail-Composer-input",
        },
        {
            content: "The queue category is gone",
            trigger: "body:not(:has(.o-openlines-QueueCategory .o-openlines-queueCount:contains(1)))",
        },
        // -- which messenger, at a glance in the list
        {
            content: "The sidebar labels the other dialog as Telegram, its line as tooltip",
            trigger: `${assigned} .o-openlines-source[title='Test line']:contains(Telegram)`,
        },
        // -- close with the line's confirmation
        {
            content: "Close the taken dialog",
            trigger: ".o-openlines-Header .o-openlines-close",
            run: "click",
        },
        {
            content: "The line asks first",
            trigger: ".modal:contains(Close this dialog?) .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "The dialog is closed",
            trigger: ".o-openlines-Header .o-openlines-closed",
        },
        // -- an internal note
        {
            content: "Open the other dialog",
            trigger: assigned,
            run: "click",
        },
        {
            content: "Switch the composer to internal notes",
            trigger: ".o-mail-DiscussContent-header .o-openlines-note",
            run: "click",
        },
        {
            content: "Write the note",
            trigger: ".o-mail-DiscussContent .o-openlines-Header .o-openlines-note.btn-warning",
        },
        {
            content: "Type it",
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: `edit ${NOTE}`,
        },
        {
            content: "Log it",
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "press Enter",
        },
        {
            content: "The note is marked as such",
            trigger: `.o-mail-Message:contains(${NOTE}) .o-openlines-noteBadge`,
        },
        {
            content: "Back to answering",
            trigger: ".o-mail-DiscussContent-header .o-openlines-note.btn-warning",
            run: "click",
        },
        // -- transfer to a colleague with a note
        {
            content: "Transfer",
            trigger: ".o-mail-DiscussContent-header .o-openlines-transfer",
            run: "click",
        },
        {
            content: "Choose the colleague",
            trigger: ".modal .o_field_widget[name=user_id] input",
            run: "edit Carl",
        },
        {
            content: "Carl is offered",
            trigger: ".o-autocomplete--dropdown-item:contains(Carl Colleague)",
            run: "click",
        },
        {
            content: "A word for him",
            trigger: ".modal .o_field_widget[name=note] textarea",
            run: `edit ${TRANSFER_NOTE}`,
        },
        {
            content: "Transfer it",
            trigger: ".modal button[name=action_transfer]",
            run: "click",
        },
        {
            content: "The wizard is gone",
            trigger: "body:not(:has(.modal .o_form_view))",
        },
        // -- leaving a dialog's conversation (the sidebar's "Leave" action) closes the dialog
        {
            content: "Open the third dialog",
            trigger: leaving,
            run: "click",
        },
        {
            content: "Leave it, as the sidebar's Leave action does",
            trigger: ".o-mail-DiscussContent-threadName[title*='Leaving Client']",
            run() {
                odoo.__WOWL_DEBUG__.root.env.services["mail.store"].discuss.thread.leaveChannel();
            },
        },
        {
            content: "The line asks first, then it is closed and left",
            trigger: ".modal:contains(Close this dialog?) .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "The conversation left the sidebar",
            trigger: `.o-mail-DiscussSidebar:not(:has(${leaving}))`,
            timeout: 30000, // closing and leaving come back over the bus: slow on a loaded machine
        },
    ],
});
