import { fields } from "@mail/core/common/record";
import { DiscussApp } from "@mail/core/public_web/discuss_app_model";
import { DiscussAppCategory } from "@mail/discuss/core/public_web/discuss_app_category_model";
import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

/** The queue of the operator's lines, as a sidebar category of Discuss (issue 16). */
patch(DiscussApp.prototype, {
    setup() {
        super.setup(...arguments);
        this.openlinesQueueCategory = fields.One("DiscussAppCategory", {
            compute() {
                return {
                    extraClass: "o-openlines-QueueCategory",
                    icon: "fa fa-inbox",
                    id: "openlines.category_queue",
                    name: _t("Open Lines queue"),
                    sequence: 14,
                };
            },
            eager: true,
        });
    },
});

patch(DiscussAppCategory.prototype, {
    /** The queue shows while it holds a dialog the user has not taken (previews are not pinned). */
    get isVisible() {
        if (this.id === "openlines.category_queue") {
            return !this.hidden && this.threads.some((thread) => thread.openlinesQueued);
        }
        return super.isVisible;
    },
});
