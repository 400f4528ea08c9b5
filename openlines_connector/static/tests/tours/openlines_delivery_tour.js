import { registry } from "@web/core/registry";

/**
 * The operator sees that the messenger refused a message, and why, and sends it again.
 *
 * Set up by tests/test_delivery_display.py: the operator's answer FAILED was
 * refused by Telegram ("Bad Request: Chat not found").
 */
const CLIENT = "Test Test Lastname";
const FAILED = "Сообщение, которое не дошло";

registry.category("web_tour.tours").add("openlines_delivery_tour", {
    steps: () => [
        {
            content: "Open the client's conversation",
            trigger: `.o-mail-DiscussSidebarChannel:contains(${CLIENT})`,
            run: "click",
        },
        {
            content: "A red mark next to the refused message, the error as its tooltip",
            trigger: `.o-mail-Message:contains(${FAILED}) .o-mail-Message-notification.text-danger[title*='Chat not found'] .fa-exclamation-circle`,
            run: "click",
        },
        {
            content: "Its popover says why",
            trigger: ".o-mail-MessageNotificationPopover:contains('(Chat not found)')",
        },
        {
            content: "Send it again",
            trigger: `.o-mail-Message:contains(${FAILED}) .o-openlines-retry`,
            run: "click",
        },
        {
            content: "Queued again: the mark turns into a clock, live",
            trigger: `.o-mail-Message:contains(${FAILED}) .o-mail-Message-notification[title='Waiting to be sent'] .fa-clock-o`,
        },
    ],
});
