import { registry } from "@web/core/registry";

/**
 * A site visitor of an Open Line chats in the widget, then ends the chat: the end-of-chat panel
 * asks for a rating only when the line asks for one (tests/test_widget_tour.py).
 */
const ROOT = ".o-livechat-root:shadow";

function chatAndLeave() {
    return [
        { trigger: `${ROOT} .o-livechat-LivechatButton`, run: "click" },
        { trigger: `${ROOT} .o-mail-Composer-input`, run: "edit Здравствуйте, где мой заказ?" },
        { trigger: `${ROOT} .o-mail-Composer-input`, run: "press Enter" },
        { trigger: `${ROOT} .o-mail-Thread:not([data-transient])` },
        { trigger: `${ROOT} .o-mail-Message-content:contains(где мой заказ)` },
        { trigger: `${ROOT} [title*='Close Chat Window']`, run: "click" },
        { trigger: `${ROOT} .o-livechat-CloseConfirmation-leave`, run: "click" },
        { trigger: `${ROOT} button.btn-outline-secondary:contains(Close)` },
    ];
}

registry.category("web_tour.tours").add("openlines_widget_no_rating", {
    steps: () => [
        ...chatAndLeave(),
        {
            content: "the line asks for no rating: the panel has no rating form",
            trigger: `${ROOT} .o-mail-ChatWindow:not(:has(img[alt='5'])):not(:contains(Did we correctly answer))`,
        },
        { trigger: `${ROOT} button.btn-outline-secondary:contains(Close)`, run: "click" },
        { trigger: `${ROOT} .o-livechat-LivechatButton` },
    ],
});

registry.category("web_tour.tours").add("openlines_widget_rating", {
    steps: () => [
        ...chatAndLeave(),
        { trigger: `${ROOT} p:contains(Did we correctly answer your question?)` },
        { trigger: `${ROOT} img[alt='5']`, run: "click" },
        { trigger: `${ROOT} textarea[placeholder='Explain your note']`, run: "edit Быстро ответили" },
        { trigger: `${ROOT} button:contains(Send)`, run: "click" },
        { trigger: `${ROOT} p:contains(Thank you for your feedback)` },
    ],
});
