import { registry } from "@web/core/registry";

/**
 * The client's typing, shown to the operator (issue 16). Set up by tests/test_tour_typing.py:
 * "VK id87641997" wrote from VK and is the operator's dialog. Once the operator starts an
 * answer, the test plays VK: the client types (message_typing_state), the webhook stores it,
 * the processing cron runs, and Discuss pushes the client's typing over the bus.
 */
const client = ".o-mail-DiscussSidebarChannel:contains(VK id87641997)";

registry.category("web_tour.tours").add("openlines_typing_tour", {
    steps: () => [
        {
            content: "Open the VK client's conversation",
            trigger: client,
            run: "click",
        },
        {
            content: "The operator starts an answer (Discuss tells the server the operator types)",
            trigger: ".o-mail-DiscussContent .o-mail-Composer-input",
            run: "edit Здравствуйте, сейчас проверю",
        },
        {
            content: "The client types in VK: Discuss shows it under the conversation",
            trigger: ".o-mail-DiscussContent .o-discuss-Typing:contains(is typing)",
            timeout: 60000, // the webhook, the processing cron and the bus push, on a loaded machine
        },
    ],
});
