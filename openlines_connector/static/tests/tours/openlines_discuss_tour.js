import { registry } from "@web/core/registry";

/**
 * An operator answers a Telegram client from Discuss.
 *
 * Set up by tests/test_tour.py: the client "Test Test Lastname" wrote
 * "Здравствуйте, есть ли доставка в Казань?" to the line "Test line"; the
 * dialog's live-chat session is assigned to the logged-in operator, so Discuss
 * lists it in the line's live-chat category (named after the line).
 */
const CLIENT = "Test Test Lastname";
const QUESTION = "Здравствуйте, есть ли доставка в Казань?";
const ANSWER = "Да, доставляем за 2 дня";

registry.category("web_tour.tours").add("openlines_discuss_tour", {
    steps: () => [
        {
            content: "Open the client's conversation from the line's live-chat category",
            trigger: `.o-mail-DiscussSidebarCategory-livechat:contains(Test line) + .o-mail-DiscussSidebarChannel-container .o-mail-DiscussSidebarChannel:contains(${CLIENT})`,
            run: "click",
        },
        {
            content: "The client's conversation is the one shown",
            trigger: `.o-mail-DiscussContent-threadName[title='${CLIENT}']`,
        },
        {
            content: "The client's message is in the thread",
            trigger: `.o-mail-Discuss .o-mail-Thread .o-mail-Message:contains(${QUESTION})`,
        },
        {
            content: "Type the answer",
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: `edit ${ANSWER}`,
        },
        {
            content: "Send it with Enter",
            trigger: ".o-mail-Discuss .o-mail-Composer-input",
            run: "press Enter",
        },
        {
            content: "The answer is posted in the thread (no longer pending)",
            trigger: `.o-mail-Discuss .o-mail-Thread .o-mail-Message:not(:has(.o-mail-Message-pendingProgress)):contains(${ANSWER})`,
        },
        {
            content: "The answer waits for the sending cron: a clock mark next to it",
            trigger: `.o-mail-Discuss .o-mail-Message:contains(${ANSWER}) .o-mail-Message-notification[title='Waiting to be sent'] .fa-clock-o`,
        },
        {
            content: "The composer is emptied once sent",
            trigger: ".o-mail-Discuss .o-mail-Composer-input:empty",
        },
    ],
});
